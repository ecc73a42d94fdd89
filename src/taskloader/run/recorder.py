"""The one task that writes the ledger: outcomes in, batched commits out, the error budget.

Batches are committed every ``BATCH`` outcomes or ``flush_every`` seconds, whichever comes
first, in a worker thread (SQLite is blocking). A batch is one transaction, so a crash loses at
most the batch in hand, and every row in it is re-sent on resume with its original ClientToken.

The error budget counts rows that failed at the API (``failed``; invalid rows never reach it).
Always on: :data:`DEFAULT_MAX_CONSECUTIVE_FAILURES` failed rows in a row with no success between
them stop the run (exit 4, the rest left resumable). A file whose every row fails (a wrong flow
or template, an outage that outlasts the retries) then costs the account's shared
StartTaskContact quota about 50 calls -- half a minute at the default pacing, a few minutes if
each row was retried to its limit -- instead of hours. Scattered failures never trip it: with
half the rows failing at random, 50 in a row happens about once in 10^15 rows. Optional on top:
``max_failures`` (a total) and ``max_failure_rate`` (a fraction, after 20 sends).
"""

from __future__ import annotations

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from taskloader.errors import LedgerError
from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.run.control import RunControl, StopReason
from taskloader.run.progress import RunStats

log = structlog.get_logger(__name__)

BATCH = 500
MIN_SAMPLE_FOR_RATE = 20
#: Failed rows in a row, with no success between them, that stop a run (0 or None: no limit).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 50


class LedgerWriter:
    def __init__(
        self,
        ledger: Ledger,
        stats: RunStats,
        control: RunControl,
        *,
        max_failures: int | None = None,
        max_failure_rate: float | None = None,
        max_consecutive_failures: int | None = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        flush_every: float = 0.5,
    ) -> None:
        self._ledger = ledger
        self._stats = stats
        self._control = control
        self._max_failures = max_failures
        self._max_failure_rate = max_failure_rate
        self._max_consecutive = max_consecutive_failures or None
        self._consecutive = 0
        self._flush_every = flush_every
        self.commits = 0
        #: The ledger write that failed; the run stops resumably and records nothing more.
        self.broken: LedgerError | None = None

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
        if self.broken is not None:
            return  # the run is stopping: these rows are resent on resume (same ClientToken)
        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._ledger.record, batch)
        except LedgerError as exc:
            # A full disk or a file made read-only: what is committed stays; the rows of this
            # batch are not terminal in the ledger, so a resumed run sends them again with
            # their ClientTokens and Amazon Connect answers with the tasks they created.
            self.broken = exc
            self._control.stop(
                StopReason.OUTPUT,
                f"cannot write the ledger {exc.path}: {exc.reason}. Free space or fix the "
                "permissions, then run the same command again to resume (no task is created "
                "twice)",
            )
            return
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
            self._consecutive = 0
        elif status is RowStatus.INVALID:
            stats.invalid += 1
        elif status is RowStatus.UNPROCESSED:
            stats.unprocessed += 1
        elif status is RowStatus.FAILED:
            stats.failed += 1
            self._consecutive += 1
            self._check_budget()

    def _check_budget(self) -> None:
        failed = self._stats.failed
        if self._max_consecutive is not None and self._consecutive >= self._max_consecutive:
            self._control.stop(
                StopReason.ERROR_BUDGET,
                f"{self._consecutive} rows in a row failed with no success between them "
                f"(--max-consecutive-failures {self._max_consecutive})",
            )
            return
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
