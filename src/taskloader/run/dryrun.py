"""`taskloader validate`: every row checked, nothing sent. Makes no StartTaskContact call.

The same reader, template cache and rules as `taskloader run` (:mod:`prepare`); CSV records are
checked by a function compiled per (template, header) that builds no requests
(:mod:`record_checker`), held equal to `run`'s per-row path by a property test.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import structlog

from taskloader.input.location import input_rows
from taskloader.input.readers import Row, RowReader
from taskloader.ledger.results import neutralise
from taskloader.mapping.outcome import Outcome, input_columns, outcome_header, result_columns
from taskloader.mapping.rules import Problem
from taskloader.run import options
from taskloader.run.attachments import open_attachments
from taskloader.run.fastcheck import Extra, RecordChecker
from taskloader.run.prepare import Prepared, Preparer, read_in_chunks
from taskloader.settings import Settings
from taskloader.templates.cache import TemplateCache
from taskloader.templates.model import TaskTemplate

log = structlog.get_logger(__name__)

FIRST_ROWS = 5
RECORD_CHUNK = 1024  # records read and checked per hop to a worker thread

#: An invalid row and its problems.
Invalid = tuple[Row, list[Problem]]


@dataclass
class CodeCount:
    """Rows with one problem code: how many, the first rows, and the first one's field and
    message (the message of one code may name a value's details, and differ between rows)."""

    count: int = 0
    rows: list[int] = field(default_factory=list)
    field: str | None = None
    message: str = ""


@dataclass
class ValidationSummary:
    input: str
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    problems: dict[str, CodeCount] = field(default_factory=dict)
    unknown_columns: tuple[str, ...] = ()
    did_you_mean: dict[str, str] = field(default_factory=dict)  # unknown column -> known name

    def add(self, valid: int, invalid: list[Invalid]) -> None:
        """Count ``valid`` valid rows and the ``invalid`` ones with their problem codes."""
        self.rows += valid + len(invalid)
        self.valid += valid
        self.invalid += len(invalid)
        for row, problems in invalid:
            first = {p.code: p for p in reversed(problems)}  # each code's first problem
            for code in dict.fromkeys(p.code for p in problems):
                entry = self.problems.get(code)
                if entry is None:
                    entry = self.problems[code] = CodeCount(field=first[code].field)
                    entry.message = first[code].message
                entry.count += 1
                if len(entry.rows) < FIRST_ROWS:
                    entry.rows.append(row.number)

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "problems": {
                code: {
                    "count": c.count,
                    "first_rows": c.rows,
                    "field": c.field,
                    "message": c.message,
                }
                for code, c in sorted(self.problems.items(), key=lambda kv: -kv[1].count)
            },
            "unknown_columns": list(self.unknown_columns),
            "did_you_mean": self.did_you_mean,
        }


class ReportWriter:
    """Invalid rows in the outcome shape of the result files (:mod:`mapping.outcome`), as CSV
    (formulas neutralised, the header too) or JSONL by suffix."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self._path = path
        self._columns = input_columns(columns)
        self._jsonl = path.suffix.lower() in {".jsonl", ".ndjson"}
        self._fh: IO[str] | None = None
        self._csv: Any = None
        #: a CSV report of a JSONL input: its columns are known once it is read, so its rows
        #: wait here (and the columns they use in ``_seen``) until :meth:`close`
        self._spool: IO[str] | None = None
        self._seen: dict[str, None] = {}

    def open(self) -> None:
        self._fh = self._path.open("w", encoding="utf-8", errors="backslashreplace", newline="")
        if not self._jsonl:
            self._csv = csv.writer(self._fh)
            if self._columns:
                self._csv.writerow([neutralise(c) for c in outcome_header(self._columns)])
            else:
                self._spool = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close())
                    "w+", encoding="utf-8", errors="backslashreplace"
                )

    def write(self, items: list[Invalid]) -> None:
        assert self._fh is not None
        for row, row_problems in items:
            listed = [(p.code, p.field, p.message) for p in row_problems]
            if self._spool is not None:
                added = set(result_columns(row.values))
                self._seen.update(dict.fromkeys(c for c in row.values if c not in added))
                entry = [row.values, row.number, row.line, listed]
                self._spool.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                continue
            outcome = Outcome.of_problems("invalid", listed)
            if self._jsonl:
                added = set(result_columns(row.values))
                record = {c: v for c, v in row.values.items() if c not in added}
                record.update(outcome.fields(row.number, row.line, list(record)))
                self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            else:
                cells = [_cell(row.values.get(c)) for c in self._columns]
                tail = outcome.cells(row.number, row.line)
                self._csv.writerow([*cells, *(neutralise(c) for c in tail)])

    def close(self) -> None:
        if self._spool is not None:
            spool, self._spool = self._spool, None
            with spool:
                self._columns = list(self._seen)
                self._csv.writerow([neutralise(c) for c in outcome_header(self._columns)])
                spool.seek(0)
                for text in spool:
                    values, number, line, listed = json.loads(text)
                    cells = [_cell(values.get(c)) for c in self._columns]
                    tail = Outcome.of_problems("invalid", listed).cells(number, line)
                    self._csv.writerow([*cells, *(neutralise(c) for c in tail)])
        if self._fh is not None:
            self._fh.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return neutralise(value)


async def _checked(
    preparer: Preparer, reader: RowReader, name: str, extra: Extra | None = None
) -> AsyncGenerator[tuple[int, list[Invalid]], None]:
    """(valid count, invalid rows) per chunk: CSV records by the compiled check, JSONL by rows.

    ``extra`` adds problems of a request with attachments (blocking: run in the worker thread).
    """
    if reader.records is None:
        async for rows in read_in_chunks(reader):
            items = await preparer.prepare_chunk(rows)
            attached = [i for i in items if "Attachments" in i.request.params]
            if extra is not None and attached:
                await anyio.to_thread.run_sync(_add_problems, extra, attached)
            bad = [(item.row, item.problems) for item in items if item.problems]
            yield len(rows) - len(bad), bad
        return
    records, first = reader.records, 1
    await preparer.check_columns(name, reader.columns, reader.encoding)
    checker = RecordChecker(preparer, name, records.header, extra)

    def resolve(ref: str | None) -> TaskTemplate | Problem | None:
        return anyio.from_thread.run(preparer.resolve, ref)

    def step(first: int) -> tuple[int, int, list[Invalid]]:  # read and check in one thread
        lines, chunk = records.read(RECORD_CHUNK)
        return len(chunk), *checker.check(first, lines, chunk, resolve)

    while True:
        read, valid, bad = await anyio.to_thread.run_sync(step, first)
        if not read:
            return
        yield valid, bad
        first += read


def _add_problems(extra: Extra, items: list[Prepared]) -> None:
    for item in items:
        item.problems.extend(extra(item.request.params))


async def validate_file(
    location: str,
    settings: Settings,
    cache: TemplateCache,
    *,
    report: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ValidationSummary:
    """Check every row of ``location``; file-level problems raise InputFileError."""
    preparer = Preparer(cache, options.mapping_config(settings), options.limits(settings))
    summary = ValidationSummary(input=location)
    writer: ReportWriter | None = None
    async with (
        input_rows(location, options.input_options(settings)) as reader,
        open_attachments(options.aws_options(settings), settings.attachment_url_ttl) as files,
    ):
        extra = files.problems if settings.check_attachments else None
        try:
            if report is not None:
                writer = ReportWriter(report, reader.columns)
                await anyio.to_thread.run_sync(writer.open)
            async with aclosing(_checked(preparer, reader, location, extra)) as chunks:
                async for valid, bad in chunks:
                    summary.add(valid, bad)
                    if writer is not None and bad:
                        await anyio.to_thread.run_sync(writer.write, bad)
                    if on_progress is not None:
                        on_progress(summary.rows)
        except BaseException:
            if writer is not None:  # a file error: a partial report would pass for a whole one
                closing, writer, report_path = writer, None, report
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(closing.close)
                    if report_path is not None:
                        await anyio.to_thread.run_sync(lambda: report_path.unlink(missing_ok=True))
            raise
        finally:
            if writer is not None:
                await anyio.to_thread.run_sync(writer.close)
    summary.unknown_columns = preparer.mapper.unknown_columns
    summary.did_you_mean = preparer.mapper.did_you_mean()
    if summary.unknown_columns:
        log.warning(
            "validate.unknown_columns",
            columns=list(summary.unknown_columns),
            did_you_mean=summary.did_you_mean,
        )
    return summary
