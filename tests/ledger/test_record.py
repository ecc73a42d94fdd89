"""Batched upserts, resume structures, redrive, streaming reads, snapshots and thread use."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from taskloader.errors import LedgerError
from taskloader.ledger.store import Bitmap, LedgerReader, RowStatus

from .conftest import OpenLedger, outcome

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_record_inserts_one_record_per_row(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1), outcome(2, "invalid", token=None, error_code="MISSING")])
    records = list(ledger.iter_records())
    assert [(r.number, r.line, r.key, r.status) for r in records] == [
        (1, 2, "k1", RowStatus.PENDING),
        (2, 3, "k2", RowStatus.INVALID),
    ]
    assert records[0].raw == {"key": "k1", "name": "name 1", "phone": "+15550001"}
    assert list(records[0].raw) == ["key", "name", "phone"]  # column order kept
    assert records[1].error_code == "MISSING"


def test_upsert_updates_status_and_adds_attempts(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1, attempts=0)])
    ledger.record(
        [
            outcome(
                1,
                "failed",
                attempts=2,
                error_code="Throttled",
                first_attempt_at=T0,
                last_attempt_at=T0 + timedelta(seconds=2),
            )
        ]
    )
    ledger.record(
        [
            outcome(
                1,
                "pending",
                attempts=1,
                first_attempt_at=T0 + timedelta(hours=1),
                last_attempt_at=T0 + timedelta(hours=1),
            )
        ]
    )
    (rec,) = ledger.iter_records()
    assert rec.status is RowStatus.PENDING
    assert rec.attempts == 3
    assert rec.first_attempt_at == T0.isoformat()  # first one kept
    assert rec.last_attempt_at == (T0 + timedelta(hours=1)).isoformat()
    assert rec.error_code is None


def test_succeeded_is_never_downgraded(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1, "succeeded", contact_id="c-1", attempts=1)])
    ledger.record([outcome(1, "failed", error_code="X", attempts=1)])
    ledger.record([outcome(1, "pending")])
    ledger.record([outcome(1, "succeeded", contact_id="c-other")])
    (rec,) = ledger.iter_records()
    assert (rec.status, rec.contact_id, rec.attempts, rec.error_code) == (
        RowStatus.SUCCEEDED,
        "c-1",
        1,
        None,
    )


def test_raw_row_and_token_are_stored_once(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1, raw=None)])  # first write without the row: filled in later
    ledger.record([outcome(1, raw={"key": "k1", "name": "first"})])
    ledger.record([outcome(1, "failed", token="tok-new", raw={"key": "k1", "name": "second"})])
    ledger.record([outcome(1, "pending", raw=None)])
    (rec,) = ledger.iter_records()
    assert rec.raw == {"key": "k1", "name": "first"}
    assert rec.token == "tok-1"


def test_a_failing_batch_is_rolled_back_whole(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1)])
    bad = outcome(3, raw={"x": 1})
    object.__setattr__(bad, "status", "exploded")  # bypass the enum: hits the CHECK
    with pytest.raises(ValueError, match="exploded"):
        ledger.record([outcome(2), bad])
    with pytest.raises(LedgerError, match="write failed"):
        ledger.record([outcome(2), outcome(1, line=None)])  # NOT NULL violation
    assert [r.number for r in ledger.iter_records()] == [1]
    ledger.record([outcome(2)])  # the connection is usable again
    assert ledger.counts()["pending"] == 2


def test_counts_include_every_status(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1, "succeeded"), outcome(2, "succeeded"), outcome(3, "invalid")])
    assert ledger.counts() == {
        "pending": 0,
        "succeeded": 2,
        "failed": 0,
        "invalid": 1,
        "unprocessed": 0,
    }


def test_resume_plan_splits_terminal_from_stored_rows(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    statuses = ["succeeded", "failed", "invalid", "pending", "unprocessed"]
    ledger.record([outcome(n, statuses[n % 5]) for n in range(1, 101) if n != 50])
    ledger.close()
    plan = open_ledger().resume_plan()
    assert plan.last == 100
    for n in range(1, 101):
        terminal = n != 50 and statuses[n % 5] in ("succeeded", "failed", "invalid")
        assert (n in plan.done) is terminal, n
        assert (n in plan.stored) is (n != 50 and not terminal), n
    assert 50 not in plan.done and 50 not in plan.stored and 101 not in plan.done
    assert len(plan.done) == 59 and len(plan.stored) == 40


def test_stored_tokens_are_looked_up_by_number(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(n, token=f"stored-{n}") for n in range(1, 1201)])
    ledger.record([outcome(1201, "invalid", token=None)])
    assert ledger.token_for(7) == "stored-7"
    assert ledger.token_for(1201) is None
    assert ledger.token_for(5000) is None
    wanted = [*range(1, 1202, 3), 9999]
    assert ledger.tokens_for(wanted) == {n: f"stored-{n}" for n in wanted if n <= 1200}


def test_redrive_turns_failed_rows_into_pending_with_the_same_token(
    open_ledger: OpenLedger,
) -> None:
    ledger = open_ledger()
    ledger.record(
        [
            outcome(1, "failed", error_code="InvalidParameter"),
            outcome(2, "succeeded"),
            outcome(3, "failed"),
            outcome(4, "invalid"),
        ]
    )
    assert ledger.redrive_failed() == 2
    plan = ledger.resume_plan()
    assert 1 not in plan.done and 1 in plan.stored and 3 in plan.stored
    assert 2 in plan.done and 4 in plan.done
    assert ledger.token_for(1) == "tok-1"
    assert ledger.counts()["failed"] == 0
    assert ledger.redrive_failed() == 0


def test_iter_records_filters_by_status_in_input_order(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    order = [9, 3, 7, 1, 5, 2, 8, 4, 6]
    ledger.record([outcome(n, ["pending", "succeeded", "unprocessed"][n % 3]) for n in order])
    picked = [r.number for r in ledger.iter_records(["unprocessed", RowStatus.PENDING])]
    assert picked == [2, 3, 5, 6, 8, 9]
    assert [r.number for r in ledger.iter_records()] == list(range(1, 10))
    assert list(ledger.iter_records(["failed"])) == []


def test_iter_records_reads_a_consistent_snapshot(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(n) for n in range(1, 201)])
    seen = []
    for rec in ledger.iter_records(["pending", "succeeded"]):
        if rec.number == 10:  # rows move between statuses while the scan runs
            ledger.record([outcome(n, "succeeded") for n in range(1, 201)])
        seen.append(rec.number)
    assert seen == list(range(1, 201))  # each row exactly once


def test_settings_are_stored(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.set_settings({"rate": 2.0, "burst": 5, "template": "callback"})
    ledger.close()
    assert open_ledger().settings == {"burst": 5, "rate": 2.0, "template": "callback"}


def test_backup_is_a_consistent_self_contained_copy(
    open_ledger: OpenLedger, tmp_path: Path
) -> None:
    ledger = open_ledger()
    ledger.record([outcome(n, "succeeded") for n in range(1, 51)])
    (tmp_path / "snap").mkdir()
    snap = ledger.backup_to(tmp_path / "snap" / "ledger.db")
    ledger.record([outcome(n) for n in range(51, 61)])  # after the snapshot
    assert sorted(p.name for p in snap.parent.iterdir()) == ["ledger.db"]  # no -wal, no temp
    with sqlite3.connect(f"{snap.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with LedgerReader.open_readonly(snap) as copy:
        assert copy.counts()["succeeded"] == 50 and copy.counts()["pending"] == 0
        assert copy.batch_id == ledger.batch_id


def test_bitmap_grows_and_counts() -> None:
    bits = Bitmap.of([0, 1, 8, 1000], size=10)
    assert 1000 in bits and 999 not in bits and 10**9 not in bits and -1 not in bits
    assert len(bits) == 4
    bits.add(5000)
    assert 5000 in bits and len(bits) == 5


async def test_calls_from_anyio_worker_threads(open_ledger: OpenLedger) -> None:
    """The pipeline calls the ledger via to_thread.run_sync: threads differ from call to call."""
    ledger = open_ledger()
    for start in range(1, 401, 40):
        batch = [outcome(n, "succeeded") for n in range(start, start + 40)]
        await anyio.to_thread.run_sync(ledger.record, batch)
    counts = await anyio.to_thread.run_sync(ledger.counts)
    assert counts["succeeded"] == 400
