"""`taskloader demo`: its emulator verifies signatures, against the demo's own key."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskloader.errors import FatalApiError
from taskloader.run.demo import DEMO_KEY, DemoOptions, run_demo
from taskloader.settings import load_settings


async def test_the_demo_emulator_refuses_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed with the tests' key, not the demo's: Connect's UnrecognizedClientException,
    fatal at the first call (exit 4); signed with the demo's key, the import goes through."""
    settings = load_settings(environ={}, flags={"region": "us-east-1"})
    with pytest.raises(FatalApiError, match="UnrecognizedClientException") as info:
        await run_demo(DemoOptions(out_dir=tmp_path / "out", throttle=0.0), settings)
    assert info.value.exit_code == 4

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEMO_KEY.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEMO_KEY.secret_access_key)
    report = await run_demo(DemoOptions(out_dir=tmp_path / "again", throttle=0.0), settings)
    assert report.counts["succeeded"] == 292 and report.counts["invalid"] == 8
