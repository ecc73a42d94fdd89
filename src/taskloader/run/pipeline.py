"""`taskloader run`: the whole import, owned by one task group.

    reader+validator --(work, bounded)--> N senders --(outcomes, bounded)--> ledger writer
           \\---------------- invalid / unprocessed rows -------------------/

Bounded streams give backpressure: memory stays flat whatever the input size. Rows already
terminal in the ledger are skipped (resume); every other row is sent with the ClientToken stored
for it or derived from (batch id, row key). At the end the result files are written from the
ledger, in input order.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import structlog

from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import LedgerError
from taskloader.input.location import input_changed, input_identity, input_rows, spooled
from taskloader.ledger.store import Ledger, LedgerTarget
from taskloader.run import options
from taskloader.run.attachments import open_attachments
from taskloader.run.control import RunControl, StopReason
from taskloader.run.engine import (
    api_client,
    bare_errors,
    finish,
    ledger_writer,
    run_stages,
    sending_for,
    with_signals,
)
from taskloader.run.feed import LedgerFeed, rebuild_import
from taskloader.run.plan import Confirm, RunPlan
from taskloader.run.preflight import (
    Preflight,
    check_run_template,
    derived_batch_id,
    import_scope,
    ledger_input_name,
    preflight,
    result_file_batch,
)
from taskloader.run.prepare import Preparer
from taskloader.run.progress import RunStats
from taskloader.run.report import RunReport, exit_code_for
from taskloader.run.workspace import Workspace, WorkspaceOptions, open_workspace, probe_writable
from taskloader.settings import Settings
from taskloader.templates.cache import template_cache_for

log = structlog.get_logger(__name__)


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
    return await with_signals(
        lambda control, hard_stop: _import(
            location,
            settings,
            control,
            hard_stop,
            client=client,
            tty=tty,
            policy=policy,
            gate=gate,
            confirm=confirm,
        )
    )


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
        origin = await result_file_batch(source, reading, etag)
        default_batch = origin or derived_batch_id(instance_id, import_scope(location, fingerprint))
        where = WorkspaceOptions(settings.ledger, settings.out_dir, aws)

        def lock_lost(message: str) -> None:
            control.stop(StopReason.FATAL, message)

        stats = RunStats()
        async with (
            open_workspace(where, location, on_lock_lost=lock_lost) as workspace,
            api_client(settings, client) as api,
            open_attachments(aws, settings.attachment_url_ttl) as attachments,
        ):
            await probe_writable(workspace.results_dir)
            cache = template_cache_for(options.template_options(settings), api, instance_id)
            await check_run_template(cache, settings.template)
            preparer = Preparer(cache, options.mapping_config(settings), options.limits(settings))
            target = options.ledger_target(settings, api)
            ledger = await _open_ledger(
                workspace, settings, location, fingerprint, default_batch, target
            )
            try:
                async with input_rows(source, reading, if_match=etag) as reader:
                    found = await preflight(
                        reader, preparer, ledger, ledger.batch_id, stopped=lambda: control.stopped,
                        one_batch=origin is not None and settings.batch_id is None,
                    )  # fmt: skip
                if settings.redrive_failed:
                    redriven = await anyio.to_thread.run_sync(ledger.redrive_failed)
                    log.info("run.redrive", rows=redriven)
                plan = await _plan(ledger, found, settings, instance_id, target, workspace)
                if found.complete:  # a partial plan would mislead: nothing is sent anyway
                    log.info("run.plan", **plan.event())
                stats.total, stats.skipped, stats.invalid = plan.rows, plan.done, plan.invalid
                if await _declined(confirm, plan, control):
                    control.stop(StopReason.DECLINED, "the plan was not confirmed")
                feed = LedgerFeed(partial(rebuild_import, preparer, source), ledger, control)
                sending = sending_for(
                    settings, api, instance_id, control, stats, policy, gate, attachments.presigned
                )
                writer = ledger_writer(settings, ledger, stats, control)
                if not control.stopped:
                    with hard_stop, bare_errors():
                        await run_stages(settings, feed, sending, writer, tty, workspace, ledger)
                interrupted = hard_stop.cancelled_caught
                if not interrupted and await input_changed(source, aws, fingerprint, etag):
                    control.stop(
                        StopReason.INPUT_CHANGED,
                        f"{location} changed during the run; the rows read before the change "
                        "were imported: run again with --force to import it as it is now (rows "
                        "are matched by key: none is sent twice)",
                    )
                counts, snapshot, results = await finish(
                    ledger, workspace, stats, control, interrupted=interrupted
                )
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
        absent=plan.absent,
    )


async def _declined(confirm: Confirm | None, plan: RunPlan, control: RunControl) -> bool:
    if control.stopped or confirm is None or not plan.to_send:
        return False
    return not await control.confirmed(lambda: confirm(plan))


async def _open_ledger(
    workspace: Workspace,
    settings: Settings,
    location: str,
    fingerprint: str | None,
    default_batch: str,
    target: LedgerTarget,
) -> Ledger:
    columns: list[str] = []
    try:
        return await anyio.to_thread.run_sync(
            lambda: Ledger.open(
                workspace.ledger_path,
                batch_id=settings.batch_id,
                new_batch_id=default_batch,
                input_name=ledger_input_name(location),
                fingerprint=fingerprint,
                columns=columns,
                force=settings.force,
                target=target,
            )
        )
    except LedgerError as exc:
        if exc.path == workspace.ledger_label:
            raise
        # An S3 ledger is opened from a local copy: name the ledger the user knows, and the
        # setting a job without flags can use
        reason = exc.reason.replace("--force", "--force (TASKLOADER_FORCE=true)")
        raise type(exc)(workspace.ledger_label, reason) from None


async def _plan(
    ledger: Ledger,
    found: Preflight,
    settings: Settings,
    instance_id: str,
    target: LedgerTarget,
    workspace: Workspace,
) -> RunPlan:
    counts = await anyio.to_thread.run_sync(ledger.pass_counts)
    by = counts.counts
    return RunPlan(
        instance=settings.instance_id or instance_id,
        region=target.region,
        endpoint=target.endpoint,
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
