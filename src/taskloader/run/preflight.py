"""The pre-flight pass of `run`: the whole input is read, mapped and checked once before the
first StartTaskContact, and every row is staged in the ledger under its identity (its key).

Why a whole pass first: a file-level error (a ragged record at line 4,501, an unclosed quote on
the last line, a NUL byte) is found while nothing has been sent, so the run can stop with exit 2
and no task created. Why stage every row: the send pass then reads its rows from the ledger, not
from the input (stdin and S3 are read once; a file edited during the run changes nothing that
is sent), a stopped run leaves its unreached rows ``pending`` without writing them row by row,
and resume, ``--force`` after an edit and redrive match rows by key wherever they now stand.

Rows already sent keep their status, row and ClientToken; rows never sent are checked again on
every pass against the current templates and settings (an ``invalid`` row that now passes is
sent). A key seen twice in one file stays a row problem (``duplicate_key``) of the later rows.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog

from taskloader.errors import UsageError
from taskloader.input.location import InputOptions, input_rows
from taskloader.input.readers import RowReader
from taskloader.ledger.records import Staged, identity
from taskloader.ledger.store import Ledger, RowStatus
from taskloader.mapping.outcome import BATCH_FIELD
from taskloader.mapping.rules import Code, Problem
from taskloader.run.prepare import Prepared, Preparer, read_in_chunks
from taskloader.run.sender import client_token
from taskloader.storage.s3 import is_s3
from taskloader.templates.cache import TemplateCache, TemplateLookupError

log = structlog.get_logger(__name__)

STAGE_CHUNK = 2048


def derived_batch_id(instance: str, scope: str) -> str:
    """The default batch id: the same import (see :func:`import_scope`) into the same instance
    gets the same id, so a run whose ledger was lost derives the same ClientTokens instead of
    new ones."""
    text = f"taskloader-batch\x00{instance}\x00{scope}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def ledger_input_name(location: str) -> str:
    """How a ledger records its input: a local file by its absolute path, else as given."""
    if location == "-" or is_s3(location):
        return location
    return str(Path(location).resolve())


def import_scope(location: str, fingerprint: str | None) -> str:
    """What names an import: an S3 object by its URL, a local file by its absolute path (an
    edited file is the same import, as with ``--force`` on its ledger; ``teamA/callbacks.csv``
    and ``teamB/callbacks.csv`` are two, whose keys may repeat), stdin by its content."""
    if location == "-":
        return f"stdin\x00{fingerprint}"
    return location if is_s3(location) else f"file\x00{Path(location).resolve()}"


@dataclass
class Preflight:
    """What the pass found: how far it read, and the templates rows resolved to (the plan's
    counts are read from the ledger after it, once ``--redrive-failed`` had its say)."""

    rows: int = 0
    complete: bool = False  # the whole input was read (not stopped half-way by a signal)
    templates: dict[str, str] = field(default_factory=dict)  # reference -> template name


async def check_run_template(cache: TemplateCache, ref: str | None) -> None:
    """An unknown run-wide ``--template`` is a usage error before anything else is read."""
    if ref is None:
        return
    try:
        await cache.resolve(ref)
    except TemplateLookupError as exc:
        names = [s.name for s in await cache.summaries()]
        close = difflib.get_close_matches(ref, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = f" (templates: {', '.join(sorted(names)[:10])})" if names else ""
        raise UsageError(f"--template {ref!r}: {exc}{hint}{known}") from None


async def result_file_batch(source: str, reading: InputOptions, etag: str | None) -> str | None:
    """The batch a result file fed back belongs to (its first row's ``taskloader.batch_id``);
    None for any other input. Its rows are then sent in that batch: with the ClientTokens the
    original import gives them, so neither run can make a task the other made."""
    async with input_rows(source, reading, if_match=etag) as reader:
        first = await anyio.to_thread.run_sync(lambda: next(iter(reader), None))
    if first is None:
        return None
    value = first.values.get(BATCH_FIELD)
    return (str(value).strip() or None) if value is not None else None


async def preflight(
    reader: RowReader,
    preparer: Preparer,
    ledger: Ledger,
    batch_id: str,
    *,
    stopped: Callable[[], bool],
    one_batch: bool = False,
) -> Preflight:
    """Read every row, check it, stage it. Returns early (incomplete) if the run is stopping.
    ``one_batch``: a result file's rows must all belong to ``batch_id`` (the rest are
    ``other_batch`` problems: sent in this batch, they could make their tasks a second time)."""
    found = Preflight()
    await anyio.to_thread.run_sync(ledger.set_columns, list(reader.columns))
    await anyio.to_thread.run_sync(ledger.begin_pass)
    async for chunk in read_in_chunks(reader, STAGE_CHUNK):
        prepared = await preparer.prepare_chunk(chunk)
        if one_batch:
            prepared = [_in_batch(item, batch_id) for item in prepared]
        staged = [_staged(item, batch_id) for item in prepared]
        await anyio.to_thread.run_sync(ledger.stage, staged)
        found.rows += len(chunk)
        if stopped():
            break
    else:
        await anyio.to_thread.run_sync(ledger.end_pass)
        found.complete = True
    found.templates = preparer.resolved()
    return found


def _in_batch(item: Prepared, batch_id: str) -> Prepared:
    found = str(item.row.values.get(BATCH_FIELD) or "").strip()
    if not found or found == batch_id:
        return item
    text = (
        f"this row belongs to batch {found}, not {batch_id}: run each batch's result file on "
        "its own (or give --batch-id to send it as new)"
    )
    problem = Problem(Code.OTHER_BATCH, BATCH_FIELD, text)
    return Prepared(item.row, item.request, [*item.problems, problem])


def _staged(item: Prepared, batch_id: str) -> Staged:
    row, key = item.row, item.request.key
    ident = identity(key, row.number)
    if any(p.code == Code.DUPLICATE_KEY for p in item.problems):
        ident = f"{ident}#{row.number}"  # the first row with this key keeps the identity
    token = client_token(batch_id, key) if key is not None else None
    if item.valid:
        return Staged(ident, row.number, row.line, key, token, RowStatus.PENDING, raw=row.values)
    return Staged(
        ident,
        row.number,
        row.line,
        key,
        token,
        RowStatus.INVALID,
        error_code=item.problems[0].code,
        error_message=problems_json(item.problems),
        raw=row.values,
    )


def problems_json(problems: list[Problem]) -> str:
    return json.dumps(
        [{"code": p.code, "field": p.field, "message": p.message} for p in problems],
        ensure_ascii=False,
    )
