"""`taskloader run`: the whole import, owned by one task group.

    reader+validator --(work, bounded)--> N senders --(outcomes, bounded)--> ledger writer
           \\---------------- invalid / unprocessed rows -------------------/

Bounded streams give backpressure: memory stays flat whatever the input size. Rows already
terminal in the ledger are skipped (resume); every other row is sent with the ClientToken stored
for it or derived from (batch id, row key). At the end the result files are written from the
ledger, in input order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import anyio
import structlog

from taskloader.connect.client import connect_client
from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import TaskloaderError
from taskloader.input.location import input_changed, input_identity, input_rows, spooled
from taskloader.ledger.store import Ledger, LedgerTarget, RowOutcome, RowStatus
from taskloader.run import options
from taskloader.run.attachments import open_attachments
from taskloader.run.control import RunControl, StopReason, watch_signals
from taskloader.run.feed import LedgerFeed
from taskloader.run.plan import Confirm, RunPlan
from taskloader.run.preflight import Preflight, check_run_template, derived_batch_id, preflight
from taskloader.run.prepare import Preparer
from taskloader.run.progress import RunStats, report_progress
from taskloader.run.recorder import LedgerWriter
from taskloader.run.report import RunReport, exit_code_for, write_run_results
from taskloader.run.sender import Sending, Work, sender
from taskloader.run.workspace import Workspace, WorkspaceOptions, open_workspace, probe_writable
from taskloader.settings import Settings
from taskloader.templates.cache import template_cache_for

log = structlog.get_logger(__name__)


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
    confirm: Confirm | None = None,
) -> RunReport:
    """Import ``location``; returns what happened. File and usage errors raise.

    ``confirm`` is shown the plan before the first send and may decline it (the CLI's prompt
    on a terminal; None goes on).

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
                client=client, tty=tty, policy=policy, gate=gate, confirm=confirm,
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
    confirm: Confirm | None,
) -> RunReport:
    instance_id = options.instance_id(settings)
    aws = options.aws_options(settings)
    reading = options.input_options(settings)
    async with spooled(location, stopped=lambda: control.stopped) as source:
        fingerprint, etag = await input_identity(source, aws)
        default_batch = derived_batch_id(instance_id, fingerprint or location)
        where = WorkspaceOptions(settings.ledger, settings.out_dir, aws)

        def lock_lost(message: str) -> None:
            control.stop(StopReason.FATAL, message)

        stats = RunStats()
        async with (
            open_workspace(where, location, on_lock_lost=lock_lost) as workspace,
            _client(settings, client) as api,
            open_attachments(aws, settings.attachment_url_ttl) as attachments,
        ):
            await probe_writable(workspace.results_dir)
            cache = template_cache_for(options.template_options(settings), api, instance_id)
            await check_run_template(cache, settings.template)
            preparer = Preparer(cache, options.mapping_config(settings), options.limits(settings))
            target = options.ledger_target(settings, getattr(api.meta, "region_name", None))
            ledger = await _open_ledger(
                workspace, settings, location, fingerprint, default_batch, target
            )
            try:
                async with input_rows(source, reading, if_match=etag) as reader:
                    found = await preflight(
                        reader, preparer, ledger, ledger.batch_id, stopped=lambda: control.stopped
                    )
                if settings.redrive_failed:
                    redriven = await anyio.to_thread.run_sync(ledger.redrive_failed)
                    log.info("run.redrive", rows=redriven)
                plan = await _plan(ledger, found, settings, instance_id, aws.region, workspace)
                if found.complete:  # a partial plan would mislead: nothing is sent anyway
                    log.info("run.plan", **plan.event())
                stats.total, stats.skipped, stats.invalid = plan.rows, plan.done, plan.invalid
                if await _declined(confirm, plan, control):
                    control.stop(StopReason.DECLINED, "the plan was not confirmed")
                feed = LedgerFeed(preparer, ledger, control, source)
                sending = _sending(
                    settings, api, instance_id, control, stats, policy, gate, attachments.presigned
                )
                writer = LedgerWriter(
                    ledger,
                    stats,
                    control,
                    max_failures=settings.max_failures,
                    max_failure_rate=settings.max_failure_rate,
                    max_consecutive_failures=settings.max_consecutive_failures,
                )
                if not control.stopped:
                    with hard_stop, _bare_errors():
                        await _run_stages(settings, feed, sending, writer, tty, workspace, ledger)
                interrupted = hard_stop.cancelled_caught
                if not interrupted and await input_changed(source, aws, fingerprint, etag):
                    control.stop(
                        StopReason.INPUT_CHANGED,
                        f"{location} changed during the run; the rows read before the change "
                        "were imported: run again with --force to import it as it is now (rows "
                        "are matched by key: none is sent twice)",
                    )
                counts = await anyio.to_thread.run_sync(ledger.counts)
                snapshot = {
                    **stats.snapshot(),
                    "stop_reason": control.reason.value if control.reason else None,
                    "batch_id": ledger.batch_id,
                }
                results = None
                if not interrupted:
                    results = await write_run_results(ledger, workspace, snapshot, control, counts)
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
        workspace.ledger_label,
        workspace.label,
        ledger.batch_id,
        results,
        control.reason.value if control.reason else None,
        control.detail,
        sent=stats.succeeded + stats.failed,
        read_only_to=None if found.complete else found.rows,
    )


async def _declined(confirm: Confirm | None, plan: RunPlan, control: RunControl) -> bool:
    if control.stopped or confirm is None or not plan.to_send:
        return False
    return not await anyio.to_thread.run_sync(confirm, plan)


async def _open_ledger(
    workspace: Workspace,
    settings: Settings,
    location: str,
    fingerprint: str | None,
    default_batch: str,
    target: LedgerTarget,
) -> Ledger:
    columns: list[str] = []
    return await anyio.to_thread.run_sync(
        lambda: Ledger.open(
            workspace.ledger_path,
            batch_id=settings.batch_id,
            new_batch_id=default_batch,
            input_name=location,
            fingerprint=fingerprint,
            columns=columns,
            force=settings.force,
            target=target,
        )
    )


async def _plan(
    ledger: Ledger,
    found: Preflight,
    settings: Settings,
    instance_id: str,
    region: str | None,
    workspace: Workspace,
) -> RunPlan:
    counts = await anyio.to_thread.run_sync(ledger.pass_counts)
    by = counts.counts
    return RunPlan(
        instance=settings.instance_id or instance_id,
        region=region,
        endpoint=settings.endpoint_url,
        batch_id=ledger.batch_id,
        ledger=workspace.ledger_label,
        rows=sum(by.values()),
        to_send=by["pending"] + by["unprocessed"],
        invalid=by["invalid"],
        done=by["succeeded"] + by["failed"],
        absent=counts.absent,
        rate=settings.rate,
        templates=found.templates,
    )


def _sending(
    settings: Settings,
    api: Any,
    instance_id: str,
    control: RunControl,
    stats: RunStats,
    policy: RetryPolicy | None,
    gate: QuotaGate | None,
    presign: Any = None,
) -> Sending:
    return Sending(
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
        presign=presign,
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
        outer.start_soon(_grace_timer, control, senders_scope, settings.grace_period, sending.gate)
        outer.start_soon(workspace.run_checkpoints, ledger, settings.checkpoint_interval)
        async with anyio.create_task_group() as stages:
            stages.start_soon(writer.run, out_rx)
            stages.start_soon(
                _senders, sending, work_rx, out_tx.clone(), senders_scope, settings.concurrency
            )
            async with work_tx, out_tx:
                await feed.produce(work_tx, out_tx)
        outer.cancel_scope.cancel()


OUTCOME_BUFFER = 1024


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
