"""taskloader's fatal paths end to end: `taskloader run` against a verifying emulator.

A wrong Region and an expired session token are among the most common production failures;
both must stop the run at once (exit 4), send nothing more, and say what to check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskloader.emulator import EmulatorSettings, EmulatorThread
from taskloader.emulator.world import AccessKey
from tests.emulator.test_sigv4 import EAST, FLOW, GOOD, OLD, TEMP, verifying_world

TASKLOADER = Path(sys.executable).parent / "taskloader"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorThread]:
    settings = EmulatorSettings(world=verifying_world()).without_limits()
    with EmulatorThread(settings) as emu:
        yield emu


def admin(server: EmulatorThread, method: str, path: str) -> Any:
    request = urllib.request.Request(
        server.url + path, method=method, data=b"{}" if method == "POST" else None,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def run(
    server: EmulatorThread, tmp_path: Path, key: AccessKey, region: str, rows: int = 5
) -> subprocess.CompletedProcess[str]:
    admin(server, "POST", "/_emulator/reset")
    data = tmp_path / "rows.csv"
    lines = ["key,name,contact_flow_id", *(f"k{n},Task {n},{FLOW}" for n in range(rows))]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TASKLOADER_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })  # fmt: skip
    if key.session_token:
        env["AWS_SESSION_TOKEN"] = key.session_token
    return subprocess.run(
        [str(TASKLOADER), "run", str(data), "--instance-id", EAST, "--region", region,
         "--endpoint-url", server.url, "--ledger", str(tmp_path / "ledger.sqlite"),
         "--concurrency", "1", "--rate", "100", "--log-format", "json"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def test_a_signed_run_succeeds(server: EmulatorThread, tmp_path: Path) -> None:
    done = run(server, tmp_path, TEMP, "us-east-1")
    assert done.returncode == 0, done.stderr
    assert admin(server, "GET", "/_emulator/stats")["contacts_created"] == 5


def test_wrong_region_is_fatal_and_names_the_region(server: EmulatorThread, tmp_path: Path) -> None:
    done = run(server, tmp_path, GOOD, "us-west-2")
    assert done.returncode == 4, done.stderr
    output = done.stdout + done.stderr
    assert "ResourceNotFoundException" in output
    assert "us-west-2" in output  # the message says which Region was asked
    assert "check the Region (--region)" in output
    stats = admin(server, "GET", "/_emulator/stats")
    assert stats["requests"]["StartTaskContact"] == {"404": 1}  # stopped at the first answer
    assert stats["contacts_created"] == 0


def test_expired_token_is_fatal_and_not_retried(server: EmulatorThread, tmp_path: Path) -> None:
    done = run(server, tmp_path, OLD, "us-east-1")
    assert done.returncode == 4, done.stderr
    assert "ExpiredTokenException" in done.stdout + done.stderr
    assert "refresh the credentials" in done.stdout + done.stderr
    stats = admin(server, "GET", "/_emulator/stats")
    assert stats["requests"]["StartTaskContact"] == {"403": 1}
    assert stats["contacts_created"] == 0
