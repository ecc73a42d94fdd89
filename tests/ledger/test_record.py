"""Batched upserts, staging by row identity, redrive, streaming reads, snapshots, threads."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskloader.errors import LedgerError
from taskloader.ledger.store import LedgerReader, RowStatus, Staged

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


def staged(number: int, key: str, status: str = "pending", **kw: Any) -> Staged:
    raw = kw.pop("raw", {"key": key, "name": f"name {key}"})
    return Staged(key, number, number + 1, key, f"tok-{key}", RowStatus(status), raw=raw, **kw)


def by_key(ledger: LedgerReader) -> dict[str, tuple[int, str, str | None]]:
    return {r.key or "": (r.number, r.status.value, r.token) for r in ledger.iter_records()}


def test_a_row_is_matched_by_key_wherever_it_now_stands(open_ledger: OpenLedger) -> None:
    """A new row at the top and a deleted row mid-file: done rows keep their outcome and token
    at their new place, the new row is pending, the deleted one counts as absent."""
    ledger = open_ledger()
    ledger.begin_pass()
    ledger.stage([staged(n, f"k{n}") for n in range(1, 6)])
    ledger.record([outcome(n, "succeeded", attempts=1, contact_id=f"c{n}") for n in (1, 2, 3)])
    ledger.record([outcome(4, "failed", attempts=1)])
    ledger.begin_pass()
    ledger.stage([staged(1, "new"), *(staged(n + 1, f"k{n}") for n in (1, 2, 4, 5))])
    assert by_key(ledger) == {
        "new": (1, "pending", "tok-new"),
        "k1": (2, "succeeded", "tok-k1"),
        "k2": (3, "succeeded", "tok-k2"),
        "k4": (5, "failed", "tok-k4"),
        "k5": (6, "pending", "tok-k5"),
    }
    counts = ledger.pass_counts()
    assert counts.absent == 1  # k3 was sent and is no longer in the input
    assert [r.key for r in ledger.iter_absent()] == ["k3"]
    assert [t.key for t in ledger.to_send(0)] == ["new", "k5"]


def test_rows_never_sent_are_checked_again_on_every_pass(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.begin_pass()
    ledger.stage([staged(1, "a", "invalid", error_code="no_flow"), staged(2, "b")])
    ledger.begin_pass()
    ledger.stage([staged(1, "a"), staged(2, "b", "invalid", error_code="no_flow")])
    assert by_key(ledger)["a"][1] == "pending"
    assert by_key(ledger)["b"][1] == "invalid"
    assert ledger.counts()["invalid"] == 1
    assert ledger.counts()["pending"] == 1


def test_a_row_that_may_have_a_task_keeps_its_request(open_ledger: OpenLedger) -> None:
    """Sent with an unknown outcome: the resend must be the same request (the row is kept). A
    failed row created nothing: a corrected row replaces it, for --redrive-failed."""
    ledger = open_ledger()
    ledger.begin_pass()
    ledger.stage([staged(1, "a"), staged(2, "b")])
    ledger.record([outcome(1, "unprocessed", key="a", ident="a", attempts=1)])
    ledger.record([outcome(2, "failed", key="b", ident="b", attempts=1)])
    ledger.begin_pass()
    edited = {"key": "x", "name": "edited"}
    ledger.stage([staged(1, "a", raw=edited), staged(2, "b", raw=edited)])
    rows = {r.key: r for r in ledger.iter_records()}
    assert rows["a"].raw == {"key": "a", "name": "name a"}
    assert rows["a"].status.value == "unprocessed"
    assert rows["b"].raw == edited
    assert rows["b"].status.value == "failed"


def test_to_send_pages_through_the_pass_in_input_order(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.begin_pass()
    ledger.stage([staged(n, f"k{n:03d}") for n in range(1, 301)])
    ledger.record([outcome(n, "succeeded", key=f"k{n:03d}", ident=f"k{n:03d}") for n in (5, 6)])
    seen: list[int] = []
    after = 0
    while page := ledger.to_send(after, limit=64):
        seen += [t.number for t in page]
        after = page[-1].number
    assert seen == [n for n in range(1, 301) if n not in (5, 6)]


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
    records = {r.number: r for r in ledger.iter_records()}
    statuses = [records[n].status.value for n in (1, 2, 3, 4)]
    assert statuses == ["pending", "succeeded", "pending", "invalid"]
    assert records[1].token == "tok-1"
    assert records[1].error_code is None
    assert [t.number for t in ledger.to_send(0)] == [1, 3]
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


async def test_calls_from_anyio_worker_threads(open_ledger: OpenLedger) -> None:
    """The pipeline calls the ledger via to_thread.run_sync: threads differ from call to call."""
    ledger = open_ledger()
    for start in range(1, 401, 40):
        batch = [outcome(n, "succeeded") for n in range(start, start + 40)]
        await anyio.to_thread.run_sync(ledger.record, batch)
    counts = await anyio.to_thread.run_sync(ledger.counts)
    assert counts["succeeded"] == 400
