"""A whole import over HTTP: ledger, emulator contacts and result files agree, in input order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from taskloader.run.sender import client_token
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    FLOW,
    Run,
    contact_pairs,
    ledger_counts,
    ledger_records,
    read_csv,
    start_requests,
    succeeded_pairs,
    task_rows,
    write_csv,
    write_jsonl,
)


def _mixed_rows() -> tuple[list[dict[str, str]], list[str], dict[str, str]]:
    """30 rows, 4 of them invalid; returns (rows, valid keys in order, invalid key -> code)."""
    rows = task_rows(30)
    rows[3]["name"] = ""  # no name
    rows[11]["key"] = rows[10]["key"]  # duplicate key: the second one is invalid
    rows[17]["name"] = ""
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    rows[24]["description"] = "=HYPERLINK(1)"  # a formula cell, valid: neutralised in results
    rows[25] = {**rows[25], "scheduled_time": past}
    invalid = {"r3": "name_missing", "r17": "name_missing", "r25": "scheduled_time_in_past"}
    valid = [r["key"] for i, r in enumerate(rows) if i not in (3, 11, 17, 25)]
    return rows, valid, invalid


async def test_mixed_file_ledger_emulator_and_results_agree(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Valid rows become exactly one contact each (ids and tokens match the ledger), invalid
    rows never reach the API, exit 1, and the result files list rows in input order."""
    rows, valid, invalid = _mixed_rows()
    columns = ("key", "name", "contact_flow_id", "description", "scheduled_time")
    path = write_csv(tmp_path / "tasks.csv", rows, columns)

    report = await run(path)

    assert report.exit_code == 1
    assert report.counts == {
        "pending": 0, "succeeded": 26, "failed": 0, "invalid": 4, "unprocessed": 0
    }  # fmt: skip
    ledger = Path(report.ledger)
    assert ledger_counts(ledger) == report.counts
    # Invalid rows never reached the API: one request per valid row, nothing else.
    assert start_requests(emulator) == {"200": 26}
    # The emulator's contacts are exactly the ledger's succeeded rows, with the derived tokens.
    assert contact_pairs(emulator) == succeeded_pairs(ledger)
    records = ledger_records(ledger)
    assert [r.number for r in records] == list(range(1, 31))
    for rec in records:
        if rec.status.value == "succeeded":
            assert rec.token == client_token(report.batch_id, rec.key or "")
            assert rec.attempts == 1
    by_id = {c["ContactId"]: c for c in emulator.contacts()}
    for rec in records:
        if rec.contact_id:
            assert rec.raw is not None
            assert by_id[rec.contact_id]["Name"] == rec.raw["name"]
            assert by_id[rec.contact_id]["ContactFlowId"] == FLOW
    # The formula went to the API as written.
    assert by_id[records[24].contact_id or ""]["Description"] == "=HYPERLINK(1)"

    out = Path(report.out_dir)
    succeeded = read_csv(out / "succeeded.csv")
    assert [r["key"] for r in succeeded] == valid
    assert all(r["taskloader.contact_id"] for r in succeeded)
    assert {(r["taskloader.contact_id"], r["key"]) for r in succeeded} == {
        (rec.contact_id, rec.key) for rec in records if rec.contact_id
    }
    assert succeeded[valid.index("r24")]["description"] == "'=HYPERLINK(1)"
    bad = read_csv(out / "invalid.csv")
    # r11 duplicates r10's key, so it is listed under that key.
    assert [(r["key"], r["taskloader.error_code"]) for r in bad] == [
        ("r3", "name_missing"), ("r10", "duplicate_key"), ("r17", "name_missing"),
        ("r25", "scheduled_time_in_past"),
    ]  # fmt: skip
    assert set(invalid.values()) < {r["taskloader.error_code"] for r in bad}
    assert read_csv(out / "failed.csv") == []
    assert read_csv(out / "unprocessed.csv") == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == report.counts
    assert summary["batch_id"] == report.batch_id
    assert summary["stats"]["requests"] == 26


async def test_rerun_of_a_finished_ledger_sends_nothing(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Running the same command again with the same ledger skips every terminal row."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(12))
    first = await run(path)
    assert first.exit_code == 0
    again = await run(path)
    assert again.exit_code == 0
    assert again.stats["skipped"] == 12
    assert again.stats["requests"] == 0
    assert start_requests(emulator) == {"200": 12}
    assert len(emulator.contacts()) == 12


async def test_jsonl_with_a_template_goes_through_the_pipeline(
    run: Run, emulator: EmulatorHandle, templates: dict[str, str], tmp_path: Path
) -> None:
    """JSONL rows naming a template by name create tasks from that template's fields."""
    rows: list[dict[str, Any]] = [
        {
            "key": f"j{n}",
            "template": "Callback",
            "name": f"Call back {n}",
            "fields": {
                "Customer name": f"Customer {n}",
                "Account number": str(1000 + n),
                "Reason": "Billing",
            },
        }
        for n in range(8)
    ]
    rows.append({"key": "j-bad", "template": "Callback", "name": "no customer"})
    path = write_jsonl(tmp_path / "tasks.jsonl", rows)

    report = await run(path)

    assert report.exit_code == 1
    assert report.counts["succeeded"] == 8
    assert report.counts["invalid"] == 1
    contacts = sorted(emulator.contacts(), key=lambda c: c["Name"])
    assert len(contacts) == 8
    for n, contact in enumerate(contacts):
        assert contact["TaskTemplateId"] == templates["Callback"]
        assert contact["References"]["Customer name"]["Value"] == f"Customer {n}"
        assert contact["References"]["Account number"] == {"Type": "NUMBER", "Value": str(1000 + n)}
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
    succeeded = read_csv(Path(report.out_dir) / "succeeded.csv")
    assert [r["key"] for r in succeeded] == [f"j{n}" for n in range(8)]
    assert [r["key"] for r in read_csv(Path(report.out_dir) / "invalid.csv")] == ["j-bad"]


async def test_progress_events_without_a_terminal(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Off a terminal the run logs run.progress events with counts, and a run.summary."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(40))
    with structlog.testing.capture_logs() as logs:
        report = await run(path, rate=50.0, burst=5, progress_interval=0.1)
    assert report.exit_code == 0
    progress = [e for e in logs if e["event"] == "run.progress"]
    assert progress, "no progress event in a run of about a second"
    assert all({"done", "succeeded", "pacing_rate", "eta_s"} <= e.keys() for e in progress)
    # The input is counted beside the run: the total is known early, and the ETA shrinks.
    counted = [e for e in progress if e["total"] is not None]
    assert counted and all(e["total"] == 40 for e in counted)
    etas = [e["eta_s"] for e in counted if e["eta_s"] is not None and e["done"] < 40]
    assert etas and etas[-1] < etas[0]
    summary = [e for e in logs if e["event"] == "run.summary"]
    assert summary[-1]["counts"]["succeeded"] == 40
    # Row values are not logged.
    assert not any("Task r1" in json.dumps(e, default=str) for e in logs)
