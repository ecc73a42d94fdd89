"""`taskloader contacts update|transfer|stop`: one call per existing contact, on the run engine.

The rows are a file with a ``contact_id`` column and the operation's columns, or the contacts of
an import's ledger (``--from-ledger``, by status) with the values given as flags. From there it
is the import's path: every row is checked and staged in the operation's own ledger under its
identity (the ``contact_id``; a contact listed twice is ``duplicate_key``), the plan is
confirmed, and the send pass (:mod:`taskloader.run.engine`) paces, retries, records and writes
the result files. Resume, ``--batch-id``, ``--redrive-failed`` and the error budget work as for
``run``. TransferContact carries ``sha256(batch id, contact id)`` as its ClientToken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import structlog

from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import LedgerError, LedgerMismatchError
from taskloader.input.readers import Row
from taskloader.ledger.records import Staged, ToSend
from taskloader.ledger.store import Ledger, LedgerTarget, RowOutcome, RowStatus
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.rules import Code, Problem
from taskloader.run import options
from taskloader.run.contact_ops import UTC_TIMES, contact_key, contact_request
from taskloader.run.contact_rows import ContactSource, Rows, open_rows
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
from taskloader.run.feed import LedgerFeed
from taskloader.run.operation import ContactOperation
from taskloader.run.preflight import derived_batch_id, problems_json
from taskloader.run.prepare import Preparer
from taskloader.run.progress import RunStats
from taskloader.run.report import RunReport, exit_code_for
from taskloader.run.sender import Work, client_token
from taskloader.run.verify import VERIFY, expecting, write_verify_results
from taskloader.run.workspace import WorkspaceOptions, open_workspace, probe_writable
from taskloader.settings import Settings
from taskloader.templates.cache import TemplateCache, template_cache_for
from taskloader.templates.model import TaskTemplate

log = structlog.get_logger(__name__)


#: Shown the number of contacts about to be sent; False declines (the CLI's prompt).
ConfirmCount = Callable[[int], Awaitable[bool]]


class RowTemplates:
    """The template an update row names (its ``template`` column, else --template), whose
    field names are then columns of the row; other operations name none."""

    def __init__(self, op: ContactOperation, settings: Settings, cache: TemplateCache) -> None:
        mapping = options.mapping_config(settings)
        self.times = MappingConfig(timezone=mapping.timezone, date_format=mapping.date_format)
        self._preparer = (
            Preparer(cache, mapping, options.limits(settings)) if op.name == "update" else None
        )

    async def of(self, values: Mapping[str, Any]) -> TaskTemplate | Problem | None:
        preparer = self._preparer
        if preparer is None:
            return None
        return await preparer.resolve(preparer.mapper.template_ref(Row("", 0, 0, dict(values))))


async def run_contacts(
    op: ContactOperation,
    source: ContactSource,
    settings: Settings,
    *,
    pace: tuple[float, int] | None = None,
    client: Any = None,
    tty: bool | None = None,
    policy: RetryPolicy | None = None,
    gate: QuotaGate | None = None,
    confirm: ConfirmCount | None = None,
) -> RunReport:
    """Run ``op`` once per row of ``source``; ``pace`` (rate, burst) overrides the API's default
    quota. File and usage errors raise."""
    return await with_signals(
        lambda control, hard_stop: _run(
            op,
            source,
            settings,
            control,
            hard_stop,
            pace=pace or (op.rate, op.burst),
            client=client,
            tty=tty,
            policy=policy,
            gate=gate,
            confirm=confirm,
        )
    )


async def check_contacts(
    op: ContactOperation,
    source: ContactSource,
    settings: Settings,
    summary: Callable[[int, int], None] | None = None,
) -> int:
    """``--dry-run``: read and check every row, send nothing, write no ledger. Logs each
    invalid row (record number and problem codes, never values), hands (valid, invalid) to
    ``summary``; returns the exit code."""
    control = RunControl()
    valid = invalid = 0
    aws = options.aws_options(settings)
    seen: set[str] = set()
    async with (
        options.template_cache(settings) as cache,
        open_rows(op, source, aws, options.input_options(settings), control) as rows,
    ):
        templates = RowTemplates(op, settings, cache)
        async for chunk in rows.chunks:
            for row in chunk:
                problems = _problems(op, row.values, seen, await templates.of(row.values))
                if problems:
                    invalid += 1
                    log.warning(
                        "contacts.invalid_row",
                        record=row.number,
                        line=row.line,
                        problems=[f"{p.code}:{p.field}" for p in problems],
                    )
                else:
                    valid += 1
    log.info("contacts.dry_run", operation=op.api, valid=valid, invalid=invalid)
    if summary is not None:
        summary(valid, invalid)
    return 1 if invalid else 0


async def _run(
    op: ContactOperation,
    source: ContactSource,
    settings: Settings,
    control: RunControl,
    hard_stop: anyio.CancelScope,
    *,
    pace: tuple[float, int],
    client: Any,
    tty: bool | None,
    policy: RetryPolicy | None,
    gate: QuotaGate | None,
    confirm: ConfirmCount | None,
) -> RunReport:
    instance_id = options.instance_id(settings)
    aws = options.aws_options(settings)
    stats = RunStats()
    verify = op is VERIFY
    if source.from_ledger and settings.ledger is None and settings.out_dir is None:
        # Beside the import's ledger: <op>.ledger.sqlite, results <op>.succeeded.csv ...
        beside = Path(source.from_ledger).parent / f"{op.name}.ledger.sqlite"
        settings = replace(settings, ledger=str(beside))
    if op.name == "update":
        mapping = options.mapping_config(settings)
        reading = {"template": mapping.default_template or "", "timezone": mapping.timezone or "",
                   "date_format": mapping.date_format or ""}  # fmt: skip
        source = replace(source, reading={k: v for k, v in reading.items() if v})
    if verify:  # a mismatch is an answer, not a failing API: no error budget; every row is
        # checked anew on every run (verify only reads)
        settings = replace(settings, max_consecutive_failures=0, redrive_failed=True)
    async with open_rows(op, source, aws, options.input_options(settings), control) as rows:
        default_batch = derived_batch_id(instance_id, f"{op.api}\x00{rows.fingerprint}")
        where = WorkspaceOptions(settings.ledger, settings.out_dir, aws)

        def lock_lost(message: str) -> None:
            control.stop(StopReason.FATAL, message)

        async with (
            open_workspace(where, f"{rows.location}.{op.name}", on_lock_lost=lock_lost) as ws,
            api_client(settings, client) as api,
        ):
            await probe_writable(ws.results_dir)
            cache = template_cache_for(options.template_options(settings), api, instance_id)
            templates = RowTemplates(op, settings, cache)
            if verify:
                rows.chunks = expecting(rows.chunks, _preparer(settings, api, instance_id))
            target = options.ledger_target(settings, api)
            ledger = await _open_ledger(ws.ledger_path, settings, rows, default_batch, target, op)
            try:
                await anyio.to_thread.run_sync(_claim, ledger, op)
                await _stage(op, ledger, rows, control, templates)
                if settings.redrive_failed:
                    await anyio.to_thread.run_sync(partial(ledger.redrive_failed, succeeded=verify))
                passed = await anyio.to_thread.run_sync(ledger.pass_counts)
                by = passed.counts
                to_send = by["pending"] + by["unprocessed"]
                stats.total = sum(by.values())
                stats.skipped = by["succeeded"] + by["failed"]
                stats.invalid = by["invalid"]
                log.info(
                    "contacts.plan",
                    operation=op.api,
                    batch_id=ledger.batch_id,
                    ledger=ws.ledger_label,
                    rows=stats.total,
                    to_send=to_send,
                    invalid=by["invalid"],
                    already_done=stats.skipped,
                    rate=pace[0],
                    burst=pace[1],
                )
                if (
                    not control.stopped
                    and confirm is not None
                    and to_send
                    and not await control.confirmed(lambda: confirm(to_send))
                ):
                    control.stop(StopReason.DECLINED, "the plan was not confirmed")
                feed = LedgerFeed(partial(_rebuild, op, templates), ledger, control)
                sending = sending_for(
                    settings, api, instance_id, control, stats, policy, gate,
                    operation=op, pace=pace,
                )  # fmt: skip
                if op.settled_by:

                    async def mark(ident: str) -> None:
                        await anyio.to_thread.run_sync(ledger.mark_in_doubt, ident)

                    sending.mark = mark
                writer = ledger_writer(settings, ledger, stats, control)
                if not control.stopped:
                    with hard_stop, bare_errors():
                        await run_stages(settings, feed, sending, writer, tty, ws, ledger)
                interrupted = hard_stop.cancelled_caught
                counts, snapshot, results = await finish(
                    ledger, ws, stats, control, interrupted=interrupted,
                    more=write_verify_results if verify else None,
                )  # fmt: skip
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(ledger.close)
    code = 3 if interrupted else exit_code_for(counts, control.reason)
    log.info("contacts.summary", operation=op.api, exit_code=code, counts=counts, **snapshot)
    return RunReport(
        code,
        counts,
        snapshot,
        ws.ledger_label,
        ws.label,
        ledger.batch_id,
        results,
        control.reason.value if control.reason else None,
        control.detail,
        sent=stats.succeeded + stats.failed,
        absent=passed.absent,
    )


async def _open_ledger(
    path: Path,
    settings: Settings,
    rows: Rows,
    default_batch: str,
    target: LedgerTarget,
    op: ContactOperation,
) -> Ledger:
    def open_it() -> Ledger:
        return Ledger.open(
            path,
            batch_id=settings.batch_id,
            new_batch_id=default_batch,
            input_name=rows.location,
            fingerprint=rows.fingerprint,
            columns=[],
            force=settings.force and op.name != "transfer",
            target=target,
        )

    try:
        return await anyio.to_thread.run_sync(open_it)
    except LedgerMismatchError:
        # Other rows or other values (another queue, another name) under this ledger's batch id
        # would reuse its ClientTokens for different requests: a new run needs a new ledger.
        edited = "" if op.name == "transfer" else " (after editing the file: add --force)"
        raise LedgerMismatchError(
            str(path),
            f"it records a run of {op.api} on other rows or values than this one; resume it with "
            f"the same file and flags{edited}, or give this run its own --ledger",
        ) from None


def _preparer(settings: Settings, api: Any, instance_id: str) -> Preparer:
    cache = template_cache_for(options.template_options(settings), api, instance_id)
    return Preparer(cache, options.mapping_config(settings), options.limits(settings))


def _claim(ledger: Ledger, op: ContactOperation) -> None:
    """A ledger records one operation: resuming it with another is refused."""
    stored = ledger.settings.get("operation")
    if stored is None:
        ledger.set_settings({**ledger.settings, "operation": op.api})
    elif stored != op.api:
        raise LedgerError(
            str(ledger.path),
            f"it records a {stored} run, not {op.api}: give this run its own --ledger",
        )


async def _stage(
    op: ContactOperation, ledger: Ledger, rows: Rows, control: RunControl, templates: RowTemplates
) -> None:
    await anyio.to_thread.run_sync(ledger.set_columns, rows.columns)
    await anyio.to_thread.run_sync(ledger.begin_pass)
    seen: set[str] = set()
    async for chunk in rows.chunks:
        staged = [
            _staged(op, row, seen, ledger.batch_id, templates, await templates.of(row.values))
            for row in chunk
        ]
        await anyio.to_thread.run_sync(ledger.stage, staged)
        if control.stopped:
            return
    await anyio.to_thread.run_sync(ledger.end_pass)


def _problems(
    op: ContactOperation,
    values: Mapping[str, Any],
    seen: set[str],
    template: TaskTemplate | Problem | None,
    times: MappingConfig = UTC_TIMES,
) -> list[Problem]:
    problems = contact_request(op, values, template, times)[1]
    key = contact_key(values)
    if key is not None:
        if key in seen:
            problems.append(
                Problem(Code.DUPLICATE_KEY, "contact_id", "this contact is listed more than once")
            )
        seen.add(key)
    return problems


def _staged(
    op: ContactOperation,
    row: Row,
    seen: set[str],
    batch_id: str,
    templates: RowTemplates,
    template: TaskTemplate | Problem | None,
) -> Staged:
    key = contact_key(row.values)
    problems = _problems(op, row.values, seen, template, templates.times)
    ident = key if key is not None else f"#{row.number}"
    if any(p.code == Code.DUPLICATE_KEY for p in problems):
        ident = f"{ident}#{row.number}"
    token = client_token(batch_id, key) if op.client_token and key is not None else None
    if not problems:
        return Staged(ident, row.number, row.line, key, token, RowStatus.PENDING, raw=row.values)
    return Staged(
        ident, row.number, row.line, key, token, RowStatus.INVALID,
        error_code=problems[0].code, error_message=problems_json(problems), raw=row.values,
    )  # fmt: skip


async def _rebuild(
    op: ContactOperation, templates: RowTemplates, item: ToSend
) -> Work | RowOutcome:
    template = await templates.of(item.raw)
    params, problems = contact_request(op, item.raw, template, templates.times)
    if problems or item.key is None:
        return RowOutcome(
            item.number, item.line, item.key, item.token, RowStatus.INVALID,
            error_code=problems[0].code if problems else "no_key",
            error_message=problems_json(problems), ident=item.ident,
        )  # fmt: skip
    return Work(
        item.number, item.line, item.key, item.token, params, item.raw, item.ident, item.in_doubt
    )
