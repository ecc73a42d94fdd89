"""Template resolution and the validate/templates commands against the emulator over HTTP."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.run.options import template_cache
from taskloader.settings import load_settings
from taskloader.templates.cache import TemplateLookupError

TEMPLATES = Path(__file__).parents[2] / "config" / "templates"


def create(connect_client: Any, instance_id: str, name: str, **extra: Any) -> str:
    spec = json.loads((TEMPLATES / "callback.json").read_text())
    params = {k: v for k, v in spec.items() if k not in {"Id", "Arn", "Name"}}
    params.update(extra)
    return str(
        connect_client.create_task_template(InstanceId=instance_id, Name=name, **params)["Id"]
    )


def settings_for(emulator: Any, **flags: Any) -> Any:
    return load_settings(
        environ={},
        flags={"endpoint_url": emulator.url, "instance_id": emulator.instance_id,
               "region": "us-east-1", **flags},
    )  # fmt: skip


async def test_names_resolve_across_listing_pages(emulator: Any, connect_client: Any) -> None:
    """More templates than one ListTaskTemplates page: every name still resolves, by one list."""
    ids = {
        f"T{n:03d}": create(connect_client, emulator.instance_id, f"T{n:03d}") for n in range(45)
    }
    async with template_cache(settings_for(emulator)) as cache:
        for name in ("T000", "T044", "T022"):
            assert (await cache.resolve(name)).id == ids[name]
        assert (await cache.resolve(ids["T010"])).name == "T010"
    requests = emulator.stats()["requests"]
    assert requests["GetTaskTemplate"] == {"200": 4}
    assert sum(requests["ListTaskTemplates"].values()) == 1


async def test_unknown_names_and_inactive_templates(emulator: Any, connect_client: Any) -> None:
    """Unknown names are lookup errors; an INACTIVE template resolves and says so."""
    create(connect_client, emulator.instance_id, "Old", Status="INACTIVE")
    async with template_cache(settings_for(emulator)) as cache:
        with pytest.raises(TemplateLookupError) as info:
            await cache.resolve("Nope")
        assert info.value.code == "unknown_template"
        assert not (await cache.resolve("Old")).active


def write_rows(path: Path, rows: list[str]) -> Path:
    header = "template,name,Customer name,Account number,key"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_validate_exit_codes_report_and_no_sends(
    emulator: Any, connect_client: Any, tmp_path: Path
) -> None:
    """validate exits 0 all valid, 1 invalid rows (reported), 2 missing file; it never sends."""
    create(connect_client, emulator.instance_id, "Callback")
    good = write_rows(tmp_path / "good.csv", ["Callback,A,Ann,1,k1", "Callback,B,Bob,2,k2"])
    bad = write_rows(
        tmp_path / "bad.csv", ["Callback,A,Ann,1,k1", "Callback,B,,x,k2", "Nope,C,C,3,k3"]
    )
    common = ["--endpoint-url", emulator.url, "--instance-id", emulator.instance_id,
              "--region", "us-east-1"]  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(good), *common]).exit_code == 0
    report = tmp_path / "report.jsonl"
    result = runner.invoke(
        main, ["validate", str(bad), *common, "--format", "json", "--report", str(report)]
    )
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["valid"], summary["invalid"]) == (3, 1, 2)
    assert summary["problems"]["unknown_template"]["first_rows"] == [3]
    assert summary["problems"]["invalid_number"]["first_rows"] == [2]
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["row"] for line in lines] == [2, 3]
    missing = runner.invoke(main, ["validate", str(tmp_path / "missing.csv"), *common])
    assert missing.exit_code == 2
    assert "missing.csv" in missing.output
    assert "StartTaskContact" not in emulator.stats()["requests"]


def test_pull_then_validate_offline(emulator: Any, connect_client: Any, tmp_path: Path) -> None:
    """templates pull writes one file per template; validate --templates needs no AWS at all."""
    create(connect_client, emulator.instance_id, "Callback")
    create(connect_client, emulator.instance_id, "Other")
    out = tmp_path / "pulled"
    common = ["--endpoint-url", emulator.url, "--instance-id", emulator.instance_id,
              "--region", "us-east-1"]  # fmt: skip
    pulled = CliRunner().invoke(main, ["templates", "pull", "--out", str(out), *common])
    assert pulled.exit_code == 0, pulled.output
    assert len(list(out.glob("*.json"))) == 2
    rows = write_rows(tmp_path / "rows.csv", ["Callback,A,Ann,1,k1", "Callback,B,,x,k2"])
    # A separate process with no endpoint, no credentials and no region: offline for real.
    proc = subprocess.run(
        [sys.executable, "-m", "taskloader", "validate", str(rows), "--templates", str(out),
         "--format", "json"],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/nonexistent",
             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["invalid"] == 1


def test_templates_list_and_show(emulator: Any, connect_client: Any) -> None:
    """list prints every template; show prints one by name as GetTaskTemplate JSON."""
    tid = create(connect_client, emulator.instance_id, "Callback")
    common = ["--endpoint-url", emulator.url, "--instance-id", emulator.instance_id,
              "--region", "us-east-1"]  # fmt: skip
    listed = CliRunner().invoke(main, ["templates", "list", "--format", "json", *common])
    assert json.loads(listed.stdout) == [{"id": tid, "name": "Callback", "status": "ACTIVE"}]
    shown = CliRunner().invoke(main, ["templates", "show", "Callback", *common])
    assert json.loads(shown.stdout)["Id"] == tid
    missing = CliRunner().invoke(main, ["templates", "show", "Nope", *common])
    assert missing.exit_code == 2
