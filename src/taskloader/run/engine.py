"""The send pass every per-row operation shares: senders, ledger writer, grace, results.

    ledger/store.to_send -> run/feed -> N run/sender (pacer, retries, quota gate)
                                          -> run/recorder (batched commits, error budget)
    then ledger/results (result files, summary.json) and the S3 upload of the workspace.

`run` (StartTaskContact) and `contacts update|transfer|stop` differ only in how rows are read
and staged and in their :class:`~taskloader.run.operation.Operation`; from the staged ledger on
they run the functions below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import structlog

from taskloader.connect.client import connect_client
from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import TaskloaderError
from taskloader.ledger.results import ResultFiles
from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.run import options
from taskloader.run.control import RunControl, watch_signals
from taskloader.run.feed import LedgerFeed
from taskloader.run.operation import START_TASK, Operation
from taskloader.run.progress import RunStats, report_progress
from taskloader.run.recorder import LedgerWriter
from taskloader.run.report import write_run_results
from taskloader.run.sender import Sending, Work, sender
from taskloader.run.workspace import Workspace
from taskloader.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

OUTCOME_BUFFER = 1024


async def with_signals(body: Callable[[RunControl, anyio.CancelScope], Awaitable[T]]) -> T:
    """Run ``body(control, hard_stop)`` with SIGINT/SIGTERM handled from the first await to the
    last (result files and uploads included); fatal and file errors come out bare."""
    control = RunControl()
    hard_stop = anyio.CancelScope()
    with bare_errors():
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_signals, control, hard_stop)
            result = await body(control, hard_stop)
            tg.cancel_scope.cancel()
    return result


@asynccontextmanager
async def api_client(settings: Settings, client: Any) -> AsyncIterator[Any]:
    """The Connect client of a run (``client`` when a test passes its own)."""
    if client is not None:
        yield client
        return
    aws = options.aws_options(settings)
    async with connect_client(aws, pool=settings.concurrency + 4) as opened:
        yield opened


def sending_for(
    settings: Settings,
    api: Any,
    instance_id: str,
    control: RunControl,
    stats: RunStats,
    policy: RetryPolicy | None,
    gate: QuotaGate | None,
    presign: Any = None,
    *,
    operation: Operation = START_TASK,
    pace: tuple[float, int] | None = None,
) -> Sending:
    """What the senders share; ``pace`` (rate, burst) overrides the settings' pacing."""
    rate, burst = pace if pace is not None else (settings.rate, settings.burst)
    return Sending(
        client=api,
        instance_id=instance_id,
        pacer=Pacer(rate, burst),
        gate=gate or QuotaGate(quota_wait=settings.quota_wait),
        policy=policy
        or RetryPolicy(
            max_attempts=settings.max_attempts,
            base=settings.backoff_base,
            cap=max(settings.backoff_cap, settings.backoff_base),
            deadline=settings.row_deadline,
        ),
        control=control,
        stats=stats,
        presign=presign,
        presign_fresh_s=settings.attachment_url_ttl / 2,
        operation=operation,
    )


def ledger_writer(
    settings: Settings, ledger: Ledger, stats: RunStats, control: RunControl
) -> LedgerWriter:
    return LedgerWriter(
        ledger,
        stats,
        control,
        max_failures=settings.max_failures,
        max_failure_rate=settings.max_failure_rate,
        max_consecutive_failures=settings.max_consecutive_failures,
    )


async def finish(
    ledger: Ledger,
    workspace: Workspace,
    stats: RunStats,
    control: RunControl,
    *,
    interrupted: bool,
    more: Callable[[Ledger, Path], object] | None = None,
) -> tuple[dict[str, int], dict[str, Any], ResultFiles | None]:
    """Counts, the summary's figures and the result files (none after a hard stop), with the
    operation's ``more`` files (blocking: run in a thread); then the workspace's final upload."""
    counts = await anyio.to_thread.run_sync(ledger.counts)
    snapshot = {
        **stats.snapshot(),
        "stop_reason": control.reason.value if control.reason else None,
        "batch_id": ledger.batch_id,
    }
    results = None
    if not interrupted:
        results = await write_run_results(ledger, workspace, snapshot, control, counts)
    if results is not None and more is not None:
        await anyio.to_thread.run_sync(more, ledger, workspace.results_dir)
    await workspace.publish(ledger, results=results is not None)
    return counts, snapshot, results


@contextmanager
def bare_errors() -> Iterator[None]:
    """Re-raise a fatal API error or a file error from inside the task groups bare (not in an
    exception group), so the CLI prints its message and exits with its code, not a traceback."""
    try:
        yield
    except BaseExceptionGroup as group:
        error: BaseException | None = group.split(TaskloaderError)[0]
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        if error is None:
            raise
        raise error from None


async def run_stages(
    settings: Settings,
    feed: LedgerFeed,
    sending: Sending,
    writer: LedgerWriter,
    tty: bool | None,
    workspace: Workspace,
    ledger: Ledger,
) -> None:
    control, stats = sending.control, sending.stats
    work_tx, work_rx = anyio.create_memory_object_stream[Work](settings.concurrency)
    out_tx, out_rx = anyio.create_memory_object_stream[RowOutcome](OUTCOME_BUFFER)
    senders_scope = anyio.CancelScope()
    async with anyio.create_task_group() as outer:
        outer.start_soon(
            partial(report_progress, stats, interval=settings.progress_interval, tty=tty)
        )
        outer.start_soon(grace_timer, control, senders_scope, settings.grace_period, sending.gate)
        outer.start_soon(workspace.run_checkpoints, ledger, settings.checkpoint_interval)
        async with anyio.create_task_group() as stages:
            stages.start_soon(writer.run, out_rx)
            stages.start_soon(
                _senders, sending, work_rx, out_tx.clone(), senders_scope, settings.concurrency
            )
            async with work_tx, out_tx:
                await feed.produce(work_tx, out_tx)
        outer.cancel_scope.cancel()


async def grace_timer(
    control: RunControl, senders: anyio.CancelScope, grace: float, gate: QuotaGate
) -> None:
    """Once the run is stopping, give in-flight calls ``grace`` seconds, then cancel them.

    During an active-task quota pause the senders wait at the gate (at most one probe is in
    flight), so there is nothing to wait for: they are cancelled at once and their rows left
    ``unprocessed`` (a cancelled probe is re-sent on resume with the same ClientToken).
    """
    await control.stopping.wait()
    with anyio.move_on_after(grace) as waited:
        await gate.wait_paused()
        log.warning("run.stop_during_quota_pause")
    if waited.cancelled_caught:
        log.warning("run.grace_expired", grace_s=grace)
    if not senders.cancel_called:
        senders.cancel()


async def _senders(
    sending: Sending,
    work: Any,
    outcomes: Any,
    scope: anyio.CancelScope,
    count: int,
) -> None:
    async with work, outcomes:
        with scope:
            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    tg.start_soon(sender, sending, work.clone(), outcomes.clone())
        # Cancelled by the grace timer: rows still queued were never sent.
        async for item in work:
            await outcomes.send(item.outcome(RowStatus.UNPROCESSED))
