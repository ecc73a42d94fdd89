"""One shape of row outcomes everywhere, and the fix path: correct invalid.csv and run it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import structlog
from click.testing import CliRunner

from taskloader.cli import main
from tests.conftest import EmulatorHandle
from tests.run.conftest import Run, emulator_args, read_csv, task_rows, write_csv

TAIL = ["row", "line", "taskloader.status", "taskloader.error_code", "taskloader.message",
        "taskloader.contact_id", "taskloader.attempts", "taskloader.batch_id"]  # fmt: skip
COLUMNS = ("key", "name", "contact_flow_id", "description")


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


async def test_invalid_csv_corrected_and_run_again(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """invalid.csv names row, line, codes and fields in words; corrected and fed back, it is
    read like its input (the outcome columns ignored with one note, no unknown-column warning),
    its rows become tasks, and its own result files do not repeat the outcome columns."""
    rows = task_rows(6)
    rows[1]["name"] = ""
    rows[4]["name"] = ""
    rows[4]["contact_flow_id"] = ""
    path = write_csv(tmp_path / "tasks.csv", rows, COLUMNS)
    first = await run(path)
    assert first.exit_code == 1
    invalid_csv = Path(first.out_dir) / "invalid.csv"
    assert _header(invalid_csv) == [*COLUMNS, *TAIL]
    bad = read_csv(invalid_csv)
    assert [(r["key"], r["row"], r["line"]) for r in bad] == [("r1", "2", "3"), ("r4", "5", "6")]
    assert bad[0]["taskloader.status"] == "invalid"
    assert bad[0]["taskloader.error_code"] == "name_missing"
    assert bad[0]["taskloader.message"] == "name: the task has no name"
    assert bad[1]["taskloader.error_code"] == "name_missing; no_flow"
    assert bad[1]["taskloader.message"].startswith("name: the task has no name; ")
    assert "[{" not in bad[1]["taskloader.message"]  # words, not the ledger's JSON

    for row in bad:  # the fix: the user corrects the file and runs it
        row["name"] = f"fixed {row['key']}"
        row["contact_flow_id"] = rows[0]["contact_flow_id"]
    fixed = write_csv(tmp_path / "fixed.csv", bad, [*COLUMNS, *TAIL])
    with structlog.testing.capture_logs() as logs:
        second = await run(fixed, ledger=str(tmp_path / "fixed" / "ledger.sqlite"))
    assert second.exit_code == 0, second
    names = {c["Name"] for c in emulator.contacts()}
    assert {"fixed r1", "fixed r4"} <= names and len(names) == 6
    events = [e["event"] for e in logs]
    assert events.count("input.result_columns_ignored") == 1
    assert not [e for e in logs if "unknown" in e["event"]]
    assert _header(Path(second.out_dir) / "succeeded.csv") == [*COLUMNS, *TAIL]


def test_validate_report_has_the_same_shape_and_reads_back(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """`validate --report` writes the result files' shape (header formulas neutralised); the
    report validated again keeps its problems and warns about no column."""
    rows = [{**r, "=cmd": "x"} for r in task_rows(3)]
    rows[2]["name"] = ""
    path = write_csv(tmp_path / "in.csv", rows, (*COLUMNS, "=cmd"))
    report = tmp_path / "report.csv"
    args = ["validate", str(path), *emulator_args(emulator), "--report", str(report)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert _header(report) == [*COLUMNS, "'=cmd", *TAIL]
    (row,) = read_csv(report)
    assert (row["row"], row["line"], row["taskloader.error_code"]) == ("3", "4", "name_missing")
    # The text summary: code, count, first rows, field and message.
    assert "name_missing: 1 row (first: 3)" in result.output
    assert "name: the task has no name" in result.output

    again = CliRunner().invoke(
        main, ["validate", str(report), *emulator_args(emulator), "--format", "json"]
    )
    assert again.exit_code == 1, again.output
    summary = json.loads(again.stdout)
    assert summary["rows"] == 1 and list(summary["problems"]) == ["name_missing"]
    assert summary["unknown_columns"] == ["'=cmd"]  # the input's own column, not the outcome's


def test_a_csv_report_of_a_jsonl_input_has_its_columns_and_reads_back(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A JSONL input's columns are known once it is read: the CSV report still starts with them
    (nested objects as JSON text), and corrected and validated again it passes. A file error
    leaves no partial report behind."""
    good = {"key": "k1", "name": "Task 1", "contact_flow_id": emulator.flow_id,
            "attributes": {"vip": True}}  # fmt: skip
    bad = {"key": "k2", "name": "", "contact_flow_id": emulator.flow_id,
           "references": {"crm": "C-2"}}  # fmt: skip
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    args = ["validate", str(path), *emulator_args(emulator), "--report", str(report)]
    assert CliRunner().invoke(main, args).exit_code == 1
    # the columns its invalid rows use, in first-seen order
    assert _header(report) == ["key", "name", "contact_flow_id", "references", *TAIL]
    (row,) = read_csv(report)
    assert (row["key"], row["references"]) == ("k2", '{"crm": "C-2"}')
    row["name"] = "Task 2"  # corrected, as the summary advises
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    again = CliRunner().invoke(main, ["validate", str(fixed), *emulator_args(emulator)])
    assert again.exit_code == 0, again.output

    path.write_text(json.dumps(good) + "\n{not json}\n", encoding="utf-8")
    assert CliRunner().invoke(main, args).exit_code == 2
    assert not report.exists()
