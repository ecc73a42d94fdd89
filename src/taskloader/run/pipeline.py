"""`taskloader run`: the whole import, owned by one task group.

    reader+validator --(work, bounded)--> N senders --(outcomes, bounded)--> ledger writer
           \\---------------- invalid / unprocessed rows -------------------/

Bounded streams give backpressure: memory stays flat whatever the input size. Rows already
terminal in the ledger are skipped (resume); every other row is sent with the ClientToken stored
for it or derived from (batch id, row key). At the end the result files are written from the
ledger, in input order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import structlog

from taskloader.connect.client import connect_client
from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import TaskloaderError
from taskloader.input.location import count_rows, input_identity, input_rows
from taskloader.ledger.results import ResultFiles, write_results
from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.run import options
from taskloader.run.attachments import open_attachments
from taskloader.run.control import RunControl, StopReason, watch_signals
from taskloader.run.prepare import Prepared, Preparer, read_in_chunks
from taskloader.run.progress import RunStats, report_progress
from taskloader.run.recorder import LedgerWriter
from taskloader.run.sender import Sending, Work, client_token, sender
from taskloader.run.workspace import Workspace, WorkspaceOptions, open_workspace
from taskloader.settings import Settings
from taskloader.templates.cache import template_cache_for

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunReport:
    exit_code: int
    counts: dict[str, int]
    stats: dict[str, Any]
    ledger: str  # a local path, or the s3:// URL of the uploaded ledger
    out_dir: str
    batch_id: str
    results: ResultFiles | None
    stop_reason: str | None
    stop_detail: str | None = None


def exit_code_for(counts: dict[str, int], reason: StopReason | None) -> int:
    open_rows = counts.get("pending", 0) + counts.get("unprocessed", 0)
    if reason in (StopReason.ERROR_BUDGET, StopReason.FATAL):
        return 4
    if open_rows:
        return 3
    if counts.get("failed", 0) or counts.get("invalid", 0):
        return 1
    return 0


def _problems_json(item: Prepared) -> str:
    return json.dumps(
        [{"code": p.code, "field": p.field, "message": p.message} for p in item.problems]
    )


@asynccontextmanager
async def _client(settings: Settings, client: Any) -> AsyncIterator[Any]:
    if client is not None:
        yield client
        return
    aws = options.aws_options(settings)
    async with connect_client(aws, pool=settings.concurrency + 4) as opened:
        yield opened


async def run_import(
    location: str,
    settings: Settings,
    *,
    client: Any = None,
    tty: bool | None = None,
    policy: RetryPolicy | None = None,
    gate: QuotaGate | None = None,
) -> RunReport:
    """Import ``location``; returns what happened. File and usage errors raise.

    SIGINT/SIGTERM are handled from the first await to the last, result files and S3 uploads
    included: a signal while the run finishes up never kills it half-way.
    """
    control = RunControl()
    hard_stop = anyio.CancelScope()
    with _bare_errors():
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_signals, control, hard_stop)
            report = await _import(
                location, settings, control, hard_stop,
                client=client, tty=tty, policy=policy, gate=gate,
            )  # fmt: skip
            tg.cancel_scope.cancel()
    return report


async def _import(
    location: str,
    settings: Settings,
    control: RunControl,
    hard_stop: anyio.CancelScope,
    *,
    client: Any,
    tty: bool | None,
    policy: RetryPolicy | None,
    gate: QuotaGate | None,
) -> RunReport:
    instance_id = options.instance_id(settings)
    aws = options.aws_options(settings)
    fingerprint, etag = await input_identity(location, aws)
    where = WorkspaceOptions(settings.ledger, settings.out_dir, aws)

    def lock_lost(message: str) -> None:
        control.stop(StopReason.FATAL, message)

    stats = RunStats()
    async with (
        open_workspace(where, location, on_lock_lost=lock_lost) as workspace,
        _client(settings, client) as api,
        open_attachments(aws, settings.attachment_url_ttl) as attachments,
        input_rows(location, options.input_options(settings), if_match=etag) as reader,
    ):
        ledger_path, out_dir = workspace.ledger_path, workspace.results_dir
        ledger_label, out_label = workspace.ledger_label, workspace.label
        ledger = await anyio.to_thread.run_sync(
            lambda: Ledger.open(
                ledger_path,
                batch_id=settings.batch_id,
                input_name=location,
                fingerprint=fingerprint,
                columns=list(reader.columns),
                force=settings.force,
            )
        )
        try:
            if settings.redrive_failed:
                redriven = await anyio.to_thread.run_sync(ledger.redrive_failed)
                log.info("run.redrive", rows=redriven)
            plan = await anyio.to_thread.run_sync(ledger.resume_plan)
            batch_id = ledger.batch_id
            log.info(
                "run.start",
                input=location,
                ledger=str(ledger_path),
                batch_id=batch_id,
                resumed=len(plan.done) > 0 or len(plan.stored) > 0,
            )
            cache = template_cache_for(options.template_options(settings), api, instance_id)
            preparer = Preparer(cache, options.mapping_config(settings), options.limits(settings))
            sending = Sending(
                client=api,
                instance_id=instance_id,
                pacer=Pacer(settings.rate, settings.burst),
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
                presign=attachments.presigned,
            )
            writer = LedgerWriter(
                ledger,
                stats,
                control,
                max_failures=settings.max_failures,
                max_failure_rate=settings.max_failure_rate,
            )
            feed = _Feed(preparer, plan, ledger, batch_id, control, stats)
            with hard_stop, _bare_errors():
                await _run_stages(
                    settings, location, reader, feed, sending, writer, tty, workspace, ledger
                )
            interrupted = hard_stop.cancelled_caught
            counts = await anyio.to_thread.run_sync(ledger.counts)
            snapshot = {
                **stats.snapshot(),
                "stop_reason": control.reason.value if control.reason else None,
                "batch_id": batch_id,
            }
            results = None
            if not interrupted:
                results = await anyio.to_thread.run_sync(
                    lambda: write_results(ledger, out_dir, stats=snapshot)
                )
            await workspace.publish(ledger, results=results is not None)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(ledger.close)
    unknown = preparer.mapper.unknown_columns
    if unknown:
        log.warning("run.unknown_columns", columns=list(unknown))
    code = 3 if interrupted else exit_code_for(counts, control.reason)
    log.info("run.summary", exit_code=code, counts=counts, **snapshot)
    return RunReport(
        code,
        counts,
        snapshot,
        ledger_label,
        out_label,
        batch_id,
        results,
        control.reason.value if control.reason else None,
        control.detail,
    )


@contextmanager
def _bare_errors() -> Iterator[None]:
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


async def _run_stages(
    settings: Settings,
    location: str,
    reader: Any,
    feed: _Feed,
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
        outer.start_soon(_grace_timer, control, senders_scope, settings.grace_period, sending.gate)
        outer.start_soon(_count_total, location, settings, stats)
        outer.start_soon(workspace.run_checkpoints, ledger, settings.checkpoint_interval)
        async with anyio.create_task_group() as stages:
            stages.start_soon(writer.run, out_rx)
            stages.start_soon(
                _senders, sending, work_rx, out_tx.clone(), senders_scope, settings.concurrency
            )
            async with work_tx, out_tx:
                await feed.produce(reader, work_tx, out_tx)
        outer.cancel_scope.cancel()


OUTCOME_BUFFER = 1024


async def _count_total(location: str, settings: Settings, stats: RunStats) -> None:
    """Count the input's rows beside the run, for the progress total and ETA."""
    stop = anyio.from_thread.check_cancelled
    reading = options.input_options(settings)
    stats.total = await anyio.to_thread.run_sync(partial(count_rows, location, reading, stop))


async def _grace_timer(
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


class _Feed:
    """Reads, validates and routes every row: skip, invalid, unprocessed, or to a sender."""

    def __init__(
        self,
        preparer: Preparer,
        plan: Any,
        ledger: Ledger,
        batch_id: str,
        control: RunControl,
        stats: RunStats,
    ) -> None:
        self._preparer = preparer
        self._plan = plan
        self._ledger = ledger
        self._batch_id = batch_id
        self._control = control
        self._stats = stats

    async def produce(self, reader: Any, work: Any, outcomes: Any) -> None:
        plan = self._plan
        async for chunk in read_in_chunks(reader):
            stored_numbers = [r.number for r in chunk if r.number in plan.stored]
            stored = (
                await anyio.to_thread.run_sync(self._ledger.tokens_for, stored_numbers)
                if stored_numbers
                else {}
            )
            for item in await self._preparer.prepare_chunk(chunk):
                row = item.row
                if row.number in plan.done:
                    self._stats.skipped += 1
                    continue
                key = item.request.key
                token = stored.get(row.number) or client_token(self._batch_id, key)
                if not item.valid:
                    await outcomes.send(
                        RowOutcome(
                            row.number,
                            row.line,
                            key,
                            token,
                            RowStatus.INVALID,
                            error_code=item.problems[0].code,
                            error_message=_problems_json(item),
                            raw=row.values,
                        )
                    )
                    continue
                job = Work(row.number, row.line, key, token, item.request.params, row.values)
                if self._control.stopped:
                    await outcomes.send(job.outcome(RowStatus.UNPROCESSED))
                else:
                    await work.send(job)
