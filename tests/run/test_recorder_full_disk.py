"""A ledger that cannot be written any more mid-run (a full disk): the run stops resumably."""

from __future__ import annotations

from pathlib import Path

import anyio

from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.run.control import RunControl, StopReason
from taskloader.run.progress import RunStats
from taskloader.run.recorder import LedgerWriter


def outcome(n: int) -> RowOutcome:
    return RowOutcome(
        n, n + 1, f"k{n}", f"t{n}", RowStatus.SUCCEEDED, contact_id=f"c{n}", attempts=1,
        raw={"key": f"k{n}", "notes": "x" * 3000},
    )  # fmt: skip


async def test_a_full_disk_stops_the_run_resumably_and_keeps_what_was_committed(
    tmp_path: Path,
) -> None:
    ledger = Ledger.open(
        tmp_path / "l.sqlite", batch_id="b", input_name="in.csv", fingerprint=None, columns=[]
    )
    control, stats = RunControl(), RunStats()
    writer = LedgerWriter(ledger, stats, control, flush_every=0.01)
    tx, rx = anyio.create_memory_object_stream[RowOutcome](10)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, rx)
        async with tx:
            await tx.send(outcome(1))
            await anyio.sleep(0.1)  # committed
            # SQLite's own page cap: the next transaction fails as on a full disk (SQLITE_FULL)
            pages = ledger._conn.execute("PRAGMA page_count").fetchone()[0]
            ledger._conn.execute(f"PRAGMA max_page_count = {pages}")
            for n in range(2, 8):
                await tx.send(outcome(n))
    assert control.reason is StopReason.OUTPUT
    assert "full" in (control.detail or "") and "resume" in (control.detail or "")
    assert writer.broken is not None
    ledger.close()
    with Ledger.open(
        tmp_path / "l.sqlite", batch_id=None, input_name="in.csv", fingerprint=None, columns=[]
    ) as again:
        done = [r.key for r in again.iter_records() if r.status is RowStatus.SUCCEEDED]
    assert done == ["k1"]  # the rows of the failed batch are not terminal: resent on resume
