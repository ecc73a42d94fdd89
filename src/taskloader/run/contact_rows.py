"""The rows of `taskloader contacts ...`: a file, or the contacts of an import's ledger.

A file's rows are its records with the flags' values filling blank or absent columns; its
fingerprint covers the file and the flags. From a ledger, each record with one of the chosen
statuses and a contact id is a row ``{"contact_id", **flags}`` (verify: also the import's key
and row); the fingerprint covers the ledger's batch id, the statuses and the flags, so a rerun
resumes the same ledger and a run with other values is another input.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from taskloader.aws import AwsOptions
from taskloader.errors import UsageError
from taskloader.input.location import InputOptions, input_identity, input_rows, spooled
from taskloader.input.readers import Row
from taskloader.ledger.store import LedgerReader, RowStatus
from taskloader.run.control import RunControl
from taskloader.run.operation import ContactOperation
from taskloader.run.prepare import read_in_chunks

CHUNK = 2048


@dataclass(frozen=True, slots=True)
class ContactSource:
    """Where the rows come from: ``file``, or ``from_ledger`` (its rows with ``statuses``).
    ``values`` are the operation's columns given as flags; a file's own cells take precedence."""

    file: str | None = None
    from_ledger: str | None = None
    statuses: tuple[str, ...] = ("succeeded",)
    values: Mapping[str, str] = field(default_factory=dict)
    #: settings that change the requests without being row values (update's --template,
    #: --timezone): part of the input's identity, so another value is another run
    reading: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Rows:
    location: str  # the input as the ledger records it
    fingerprint: str | None
    columns: list[str]
    chunks: AsyncIterator[list[Row]]


@asynccontextmanager
async def open_rows(
    op: ContactOperation,
    source: ContactSource,
    aws: AwsOptions,
    reading: InputOptions,
    control: RunControl,
) -> AsyncIterator[Rows]:
    flags = {k: v for k, v in source.values.items() if v}
    identity = {**{k: v for k, v in source.reading.items() if v}, **flags}
    if (source.file is None) == (source.from_ledger is None):
        raise UsageError("give a FILE of rows or --from-ledger LEDGER (one of them)")
    if source.from_ledger is not None:
        path = source.from_ledger
        rows = await anyio.to_thread.run_sync(_ledger_rows, op, path, source, flags)
        if source.reading:
            rows.fingerprint = _digest(str(rows.fingerprint), json.dumps(identity, sort_keys=True))
        yield rows
        return
    assert source.file is not None
    async with spooled(source.file, stopped=lambda: control.stopped) as path:
        fingerprint, etag = await input_identity(path, aws)
        if fingerprint is not None and identity:
            fingerprint = _digest(fingerprint, json.dumps(identity, sort_keys=True))
        async with input_rows(path, reading, if_match=etag) as reader:
            columns = list(reader.columns) + [c for c in flags if c not in reader.columns]

            async def chunks() -> AsyncIterator[list[Row]]:
                async for chunk in read_in_chunks(reader, CHUNK):
                    yield [_with_flags(row, flags) for row in chunk]

            yield Rows(source.file, fingerprint, columns, chunks())


def _with_flags(row: Row, flags: Mapping[str, str]) -> Row:
    if not flags:
        return row
    values = dict(row.values)
    for column, value in flags.items():
        if not str(values.get(column) or "").strip():
            values[column] = value
    return Row(row.source, row.number, row.line, values, row.problems)


def _ledger_rows(
    op: ContactOperation, path: str, source: ContactSource, flags: Mapping[str, str]
) -> Rows:
    """The contacts of an import's ledger with ``source.statuses``, read in one snapshot."""
    with LedgerReader.open_readonly(path) as reader:
        made_by = reader.settings.get("operation")
        if op.name == "verify" and made_by:
            raise UsageError(f"{path} is the ledger of a {made_by} run, not of an import")
        statuses = [RowStatus(s) for s in source.statuses]
        found = [
            Row(path, rec.number, rec.line, {"contact_id": rec.contact_id or "", **flags})
            if op.name != "verify"
            else Row(path, rec.number, rec.line, {"contact_id": rec.contact_id or "",
                                                  "key": rec.key or "", "row": rec.raw or {}})
            for rec in reader.iter_records(statuses)
            if rec.contact_id
        ]  # fmt: skip
        batch = reader.batch_id
    identity = json.dumps([batch, sorted(source.statuses), flags], sort_keys=True)

    async def chunks() -> AsyncIterator[list[Row]]:
        for start in range(0, len(found), CHUNK):
            yield found[start : start + CHUNK]

    columns = ["contact_id", "key", "expected"] if op.name == "verify" else ["contact_id", *flags]
    return Rows(path, _digest(identity), columns, chunks())


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
