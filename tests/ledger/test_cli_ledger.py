"""`taskloader ledger summary | export` through click, and once as a real process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from taskloader.cli import main

from .conftest import OpenLedger, outcome


@pytest.fixture
def live_ledger(open_ledger: OpenLedger) -> Path:
    """A ledger whose writer is still open (holding the lock) while the CLI reads it."""
    ledger = open_ledger(batch_id="b-1")
    ledger.record([outcome(1, "succeeded", contact_id="c1"), outcome(2, "failed", raw={
        "key": "k2", "name": "=2+2", "phone": "x"})])  # fmt: skip
    ledger.record([outcome(3, "pending"), outcome(4, "failed")])
    return ledger.path


def test_summary_json(live_ledger: Path) -> None:
    result = CliRunner().invoke(main, ["ledger", "summary", str(live_ledger), "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["batch_id"] == "b-1"
    assert info["total"] == 4
    assert info["counts"] == {
        "pending": 1, "succeeded": 1, "failed": 2, "invalid": 0, "unprocessed": 0,
    }  # fmt: skip


def test_summary_table(live_ledger: Path) -> None:
    result = CliRunner().invoke(main, ["ledger", "summary", str(live_ledger)])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line.split()[3] for line in result.output.splitlines()
             if line.count("│") == 3}  # fmt: skip
    assert lines["failed"] == "2" and lines["total"] == "4" and lines["invalid"] == "0"
    assert "b-1" in result.output


def test_summary_of_a_missing_ledger_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ledger", "summary", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert "no such ledger" in result.output


def test_export_csv_by_suffix(live_ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "failed.csv"
    args = ["ledger", "export", str(live_ledger), "--status", "failed", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["taskloader.status"]) for r in rows] == [("2", "failed"), ("4", "failed")]
    assert rows[0]["name"] == "'=2+2"


def test_export_several_statuses_to_jsonl(live_ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    args = ["ledger", "export", str(live_ledger), "--status", "pending", "--status", "succeeded"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(d["row"], d["taskloader.status"]) for d in docs] == [(1, "succeeded"), (3, "pending")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--status", "bogus", "--out", "x.csv"], "bogus"), (["--status", "failed"], "--out")],
)
def test_export_usage_errors(live_ledger: Path, extra: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["ledger", "export", str(live_ledger), *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_export_to_a_folder_that_does_not_exist_is_a_usage_error(
    live_ledger: Path, tmp_path: Path
) -> None:
    out = tmp_path / "no" / "such" / "x.csv"
    args = ["ledger", "export", str(live_ledger), "--status", "failed", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"--out {out}: No such file or directory" in result.output
    assert "Traceback" not in result.output


def test_export_unknown_suffix_exits_2(live_ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.xlsx"
    args = ["ledger", "export", str(live_ledger), "--status", "failed", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert not out.exists()


def test_summary_as_a_real_process_on_a_live_ledger(live_ledger: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "taskloader", "ledger", "summary", str(live_ledger)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout and "total" in proc.stdout
