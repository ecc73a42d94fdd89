"""The one task that writes the ledger: outcomes in, batched commits out, the error budget.

Batches are committed every ``BATCH`` outcomes or ``flush_every`` seconds, whichever comes
first, in a worker thread (SQLite is blocking). A batch is one transaction, so a crash loses at
most the batch in hand, and every row in it is re-sent on resume with its original ClientToken.
"""

from __future__ import annotations

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.run.control import RunControl, StopReason
from taskloader.run.progress import RunStats

log = structlog.get_logger(__name__)

BATCH = 500
MIN_SAMPLE_FOR_RATE = 20


class LedgerWriter:
    def __init__(
        self,
        ledger: Ledger,
        stats: RunStats,
        control: RunControl,
        *,
        max_failures: int | None = None,
        max_failure_rate: float | None = None,
        flush_every: float = 0.5,
    ) -> None:
        self._ledger = ledger
        self._stats = stats
        self._control = control
        self._max_failures = max_failures
        self._max_failure_rate = max_failure_rate
        self._flush_every = flush_every
        self.commits = 0

    async def run(self, outcomes: MemoryObjectReceiveStream[RowOutcome]) -> None:
        batch: list[RowOutcome] = []
        last_flush = anyio.current_time()
        async with outcomes:
            while True:
                try:
                    with anyio.move_on_after(self._flush_every):
                        batch.append(self._arrived(await outcomes.receive()))
                        while len(batch) < BATCH:
                            try:
                                batch.append(self._arrived(outcomes.receive_nowait()))
                            except anyio.WouldBlock:
                                break
                except anyio.EndOfStream:
                    break
                now = anyio.current_time()
                if batch and (len(batch) >= BATCH or now - last_flush >= self._flush_every):
                    await self._flush(batch)
                    batch = []
                    last_flush = now
        if batch:
            await self._flush(batch)

    async def _flush(self, batch: list[RowOutcome]) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._ledger.record, batch)
        self.commits += 1

    def _arrived(self, outcome: RowOutcome) -> RowOutcome:
        # Counted (and the error budget checked) as each outcome arrives, not when its batch
        # is committed: at 200 rows/s a 0.5 s batch would let ~100 more rows fail first.
        self._count(outcome)
        return outcome

    def _count(self, outcome: RowOutcome) -> None:
        stats = self._stats
        status = RowStatus(outcome.status)
        if status is RowStatus.SUCCEEDED:
            stats.succeeded += 1
        elif status is RowStatus.INVALID:
            stats.invalid += 1
        elif status is RowStatus.UNPROCESSED:
            stats.unprocessed += 1
        elif status is RowStatus.FAILED:
            stats.failed += 1
            self._check_budget()

    def _check_budget(self) -> None:
        failed = self._stats.failed
        if self._max_failures is not None and failed > self._max_failures:
            self._control.stop(
                StopReason.ERROR_BUDGET,
                f"{failed} rows failed (--max-failures {self._max_failures})",
            )
            return
        sent = failed + self._stats.succeeded
        if (
            self._max_failure_rate is not None
            and sent >= MIN_SAMPLE_FOR_RATE
            and failed / sent > self._max_failure_rate
        ):
            self._control.stop(
                StopReason.ERROR_BUDGET,
                f"{failed} of {sent} sent rows failed "
                f"(--max-failure-rate {self._max_failure_rate})",
            )
