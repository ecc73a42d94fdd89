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

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import structlog

from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import LedgerError, UsageError
from taskloader.input.location import input_identity, input_rows, spooled
from taskloader.input.readers import Row
from taskloader.ledger.records import Staged, ToSend
from taskloader.ledger.store import Ledger, LedgerReader, RowOutcome, RowStatus
from taskloader.mapping.rules import Code, Problem
from taskloader.run import options
from taskloader.run.contact_ops import contact_key, contact_request
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
from taskloader.run.prepare import read_in_chunks
from taskloader.run.progress import RunStats
from taskloader.run.report import RunReport, exit_code_for
from taskloader.run.sender import Work, client_token
from taskloader.run.workspace import WorkspaceOptions, open_workspace, probe_writable
from taskloader.settings import Settings

log = structlog.get_logger(__name__)

CHUNK = 2048


@dataclass(frozen=True, slots=True)
class ContactSource:
    """Where the rows come from: ``file``, or ``from_ledger`` (its rows with ``statuses``).
    ``values`` are the operation's columns given as flags; a file's own cells take precedence."""

    file: str | None = None
    from_ledger: str | None = None
    statuses: tuple[str, ...] = ("succeeded",)
    values: Mapping[str, str] = field(default_factory=dict)


#: Shown the number of contacts about to be sent; False declines (the CLI's prompt).
ConfirmCount = Callable[[int], bool]


@dataclass
class _Rows:
    location: str  # the input as the ledger records it
    fingerprint: str | None
    columns: list[str]
    chunks: AsyncIterator[list[Row]]


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


async def check_contacts(op: ContactOperation, source: ContactSource, settings: Settings) -> int:
    """``--dry-run``: read and check every row, send nothing, write no ledger. Logs each
    invalid row (record number and problem codes, never values); returns the exit code."""
    control = RunControl()
    valid = invalid = 0
    seen: set[str] = set()
    async with _open_rows(op, source, settings, control) as rows:
        async for chunk in rows.chunks:
            for row in chunk:
                problems = _problems(op, row.values, seen)
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
    async with _open_rows(op, source, settings, control) as rows:
        default_batch = derived_batch_id(instance_id, f"{op.api}\x00{rows.fingerprint}")
        where = WorkspaceOptions(settings.ledger, settings.out_dir, aws)

        def lock_lost(message: str) -> None:
            control.stop(StopReason.FATAL, message)

        async with (
            open_workspace(where, f"{rows.location}.{op.name}", on_lock_lost=lock_lost) as ws,
            api_client(settings, client) as api,
        ):
            await probe_writable(ws.results_dir)
            target = options.ledger_target(settings, getattr(api.meta, "region_name", None))
            ledger = await anyio.to_thread.run_sync(
                lambda: Ledger.open(
                    ws.ledger_path,
                    batch_id=settings.batch_id,
                    new_batch_id=default_batch,
                    input_name=rows.location,
                    fingerprint=rows.fingerprint,
                    columns=[],
                    force=settings.force,
                    target=target,
                )
            )
            try:
                await anyio.to_thread.run_sync(_claim, ledger, op)
                await _stage(op, ledger, rows, control)
                if settings.redrive_failed:
                    await anyio.to_thread.run_sync(ledger.redrive_failed)
                by = (await anyio.to_thread.run_sync(ledger.pass_counts)).counts
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
                    and not await anyio.to_thread.run_sync(confirm, to_send)
                ):
                    control.stop(StopReason.DECLINED, "the plan was not confirmed")
                feed = LedgerFeed(partial(_rebuild, op), ledger, control)
                sending = sending_for(
                    settings, api, instance_id, control, stats, policy, gate,
                    operation=op, pace=pace,
                )  # fmt: skip
                writer = ledger_writer(settings, ledger, stats, control)
                if not control.stopped:
                    with hard_stop, bare_errors():
                        await run_stages(settings, feed, sending, writer, tty, ws, ledger)
                interrupted = hard_stop.cancelled_caught
                counts, snapshot, results = await finish(
                    ledger, ws, stats, control, interrupted=interrupted
                )
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
    )


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


async def _stage(op: ContactOperation, ledger: Ledger, rows: _Rows, control: RunControl) -> None:
    await anyio.to_thread.run_sync(ledger.set_columns, rows.columns)
    await anyio.to_thread.run_sync(ledger.begin_pass)
    seen: set[str] = set()
    async for chunk in rows.chunks:
        staged = [_staged(op, row, seen, ledger.batch_id) for row in chunk]
        await anyio.to_thread.run_sync(ledger.stage, staged)
        if control.stopped:
            return
    await anyio.to_thread.run_sync(ledger.end_pass)


def _problems(op: ContactOperation, values: Mapping[str, Any], seen: set[str]) -> list[Problem]:
    problems = contact_request(op, values)[1]
    key = contact_key(values)
    if key is not None:
        if key in seen:
            problems.append(
                Problem(Code.DUPLICATE_KEY, "contact_id", "this contact is listed more than once")
            )
        seen.add(key)
    return problems


def _staged(op: ContactOperation, row: Row, seen: set[str], batch_id: str) -> Staged:
    key = contact_key(row.values)
    problems = _problems(op, row.values, seen)
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


async def _rebuild(op: ContactOperation, item: ToSend) -> Work | RowOutcome:
    params, problems = contact_request(op, item.raw)
    if problems or item.key is None:
        return RowOutcome(
            item.number, item.line, item.key, item.token, RowStatus.INVALID,
            error_code=problems[0].code if problems else "no_key",
            error_message=problems_json(problems), ident=item.ident,
        )  # fmt: skip
    return Work(item.number, item.line, item.key, item.token, params, item.raw, item.ident)


@asynccontextmanager
async def _open_rows(
    op: ContactOperation, source: ContactSource, settings: Settings, control: RunControl
) -> AsyncIterator[_Rows]:
    flags = {k: v for k, v in source.values.items() if v}
    if (source.file is None) == (source.from_ledger is None):
        raise UsageError("give a FILE of rows or --from-ledger LEDGER (one of them)")
    if source.from_ledger is not None:
        yield await anyio.to_thread.run_sync(_ledger_rows, source.from_ledger, source, flags)
        return
    assert source.file is not None
    aws = options.aws_options(settings)
    async with spooled(source.file, stopped=lambda: control.stopped) as path:
        fingerprint, etag = await input_identity(path, aws)
        if fingerprint is not None and flags:
            fingerprint = _digest(fingerprint, json.dumps(flags, sort_keys=True))
        async with input_rows(path, options.input_options(settings), if_match=etag) as reader:
            columns = list(reader.columns) + [c for c in flags if c not in reader.columns]

            async def chunks() -> AsyncIterator[list[Row]]:
                async for chunk in read_in_chunks(reader, CHUNK):
                    yield [_with_flags(row, flags) for row in chunk]

            yield _Rows(source.file, fingerprint, columns, chunks())


def _with_flags(row: Row, flags: Mapping[str, str]) -> Row:
    if not flags:
        return row
    values = dict(row.values)
    for column, value in flags.items():
        if not str(values.get(column) or "").strip():
            values[column] = value
    return Row(row.source, row.number, row.line, values, row.problems)


def _ledger_rows(path: str, source: ContactSource, flags: Mapping[str, str]) -> _Rows:
    """The contacts of an import's ledger with ``source.statuses``, read in one snapshot."""
    with LedgerReader.open_readonly(path) as reader:
        statuses = [RowStatus(s) for s in source.statuses]
        found = [
            Row(path, rec.number, rec.line, {"contact_id": rec.contact_id or "", **flags})
            for rec in reader.iter_records(statuses)
            if rec.contact_id
        ]
        batch = reader.batch_id
    identity = json.dumps([batch, sorted(source.statuses), flags], sort_keys=True)

    async def chunks() -> AsyncIterator[list[Row]]:
        for start in range(0, len(found), CHUNK):
            yield found[start : start + CHUNK]

    return _Rows(path, _digest(identity), ["contact_id", *flags], chunks())


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
