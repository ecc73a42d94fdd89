"""The front half shared by `validate` and `run`: read rows, resolve templates, map, validate.

Reading and parsing are blocking, so rows are read in chunks in a worker thread. For `run`,
mapping and validation are pure functions run on the event loop between awaits (microseconds per
row, at 2 sends a second). `validate` reads and checks each chunk of CSV records in one worker
thread call (:meth:`Preparer.check_records`), calling back to the loop only to resolve a template.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from typing import Any, TypeVar

import anyio

from taskloader.errors import UsageError
from taskloader.mapping import Mapper, MappingConfig, TaskRequest
from taskloader.record_check import RecordCheck, compile_check, record_digest
from taskloader.rules import Code, Problem
from taskloader.s3 import S3Url, is_s3
from taskloader.s3_input import open_s3_input
from taskloader.settings import Settings
from taskloader.source import Row, RowReader, SourceOptions, csv_row, open_rows, read_rows
from taskloader.template import TaskTemplate
from taskloader.templates import TemplateCache, TemplateLookupError
from taskloader.validation import CrossRowChecks, Limits, check_row, digest, template_problem

CHUNK = 512
T = TypeVar("T")
_UNSEEN: Any = object()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A row after mapping and validation: valid when ``problems`` is empty."""

    row: Row
    request: TaskRequest
    problems: list[Problem]

    @property
    def valid(self) -> bool:
        return not self.problems


def mapping_config(settings: Settings) -> MappingConfig:
    """The ``[mapping]`` table of the settings file as a typed value."""
    raw = dict(settings.mapping)

    def table(name: str) -> dict[str, str]:
        value = raw.pop(name, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise UsageError(f"[mapping] {name} must be a table of strings")
        return {str(k): v for k, v in value.items()}

    def names(name: str) -> tuple[str, ...]:
        value = raw.pop(name, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise UsageError(f"[mapping] {name} must be a list of column names")
        return tuple(str(v) for v in value)

    config = MappingConfig(
        rename=table("rename"),
        constants=table("constants"),
        attributes=names("attributes"),
        references=names("references"),
        ignore=names("ignore"),
        strict=settings.strict,
        default_template=settings.template,
    )
    if raw:
        raise UsageError(f"[mapping] has unknown keys: {', '.join(sorted(raw))}")
    return config


def source_options(settings: Settings) -> SourceOptions:
    fmt: Any = settings.input_format
    return SourceOptions(
        format=fmt, delimiter=settings.delimiter, ragged_tolerance=settings.ragged_tolerance
    )


@contextmanager
def open_input(
    location: str, settings: Settings, *, if_match: str | None = None
) -> Iterator[RowReader]:
    """Rows of a local file, ``-`` (stdin) or an ``s3://`` object, streamed. Blocking.

    ``if_match``: the S3 ETag the ledger was checked against; another version is refused.
    """
    options = source_options(settings)
    if is_s3(location):
        url = S3Url.parse_object(location)
        with open_s3_input(url, settings, if_match=if_match) as stream:
            yield read_rows(stream, location, options)
    else:
        with open_rows(location, options) as reader:
            yield reader


@asynccontextmanager
async def input_rows(
    location: str, settings: Settings, *, if_match: str | None = None
) -> AsyncIterator[RowReader]:
    """:func:`open_input` with the blocking open and close done in a worker thread."""
    cm = open_input(location, settings, if_match=if_match)
    reader = await anyio.to_thread.run_sync(cm.__enter__)
    try:
        yield reader
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(cm.__exit__, type(exc), exc, exc.__traceback__)
        raise
    else:
        await anyio.to_thread.run_sync(cm.__exit__, None, None, None)


async def read_in_chunks(reader: Iterator[T], size: int = CHUNK) -> AsyncIterator[list[T]]:
    """Pull rows (or records) from a blocking iterator in a worker thread, ``size`` at a time."""
    while True:
        chunk = await anyio.to_thread.run_sync(lambda: list(islice(reader, size)))
        if not chunk:
            return
        yield chunk


class Preparer:
    """Maps and validates rows in input order (cross-row checks depend on that order)."""

    def __init__(self, cache: TemplateCache, settings: Settings) -> None:
        self._cache = cache
        self.mapper = Mapper(mapping_config(settings))
        self.limits = Limits(schedule_horizon=timedelta(days=settings.schedule_horizon_days))
        self.cross = CrossRowChecks()
        self._templates: dict[str, TaskTemplate | Problem] = {}
        self._checks: dict[str | None, RecordCheck | None] = {}
        self._checks_header: list[str] | None = None
        self._key_column: str | None = None

    async def template_for(self, row: Row) -> TaskTemplate | Problem | None:
        return await self.resolve(self.mapper.template_ref(row))

    async def resolve(self, ref: str | None) -> TaskTemplate | Problem | None:
        """The template named ``ref`` (None: no template), or the problem resolving it gave."""
        if ref is None:
            return None
        found = self._templates.get(ref)
        if found is None:
            try:
                found = await self._cache.resolve(ref)
            except TemplateLookupError as exc:
                found = template_problem(Code(exc.code))
            self._templates[ref] = found
        return found

    async def prepare_chunk(self, rows: list[Row]) -> list[Prepared]:
        """:meth:`prepare` for a chunk; awaits only when a template is not yet resolved."""
        out: list[Prepared] = []
        append = out.append
        templates, mapper, limits, cross = self._templates, self.mapper, self.limits, self.cross
        for row in rows:
            ref = mapper.template_ref(row)
            template = None if ref is None else templates.get(ref)
            if template is None and ref is not None:
                template = await self.template_for(row)
            checked = check_row(row, template, mapper, limits, cross)
            append(Prepared(row, checked.request, checked.problems))
        return out

    def check_records(
        self,
        name: str,
        header: list[str],
        first: int,
        lines: Sequence[int],
        records: list[list[str]],
        resolve: Callable[[str | None], TaskTemplate | Problem | None],
    ) -> tuple[int, list[tuple[Row, list[Problem]]]]:
        """Check CSV records numbered from ``first`` without building requests (for `validate`):
        how many are valid, and each invalid one as a :class:`Row` with its problems.

        Blocking, and meant for a worker thread: it runs in the thread that read the records
        (their cells are still in that core's cache), and ``resolve`` is :meth:`resolve` called
        back on the event loop (``anyio.from_thread.run``), used once per template name.
        """
        if self._checks_header != header:
            self._checks, self._checks_header = {}, header
            self._key_column = self.mapper.plan(None, tuple(header)).key_column
        checks, width, default = self._checks, len(header), self.mapper.config.default_template
        picks = [header.index(c) for c in self.mapper.template_columns if c in header]
        now = self.limits.clock()
        latest = now + self.limits.schedule_horizon
        invalid: list[tuple[Row, list[Problem]]] = []
        for number, line, record in zip(itertools.count(first), lines, records, strict=False):
            ref = default
            for j in picks:
                if j < len(record) and record[j]:
                    ref = record[j].strip()
                    break
            check = checks.get(ref, _UNSEEN)
            if check is _UNSEEN:
                check = checks[ref] = self._compile(ref, header, resolve(ref))
            if check is not None and len(record) == width:
                problems = check(record, now, latest)
                if problems:
                    invalid.append((csv_row(name, header, number, line, record), problems))
                continue
            row = csv_row(name, header, number, line, record)
            request, problems = check_row(row, resolve(ref), self.mapper, self.limits)
            key = row.values.get(self._key_column, "") if self._key_column else ""
            d = digest(key) if key else record_digest(record, width)
            self.cross.check_digest_into(d, request.params.get("PreviousContactId"), problems)
            if problems:
                invalid.append((row, problems))
        return len(records) - len(invalid), invalid

    def _compile(
        self, ref: str | None, header: list[str], template: TaskTemplate | Problem | None
    ) -> RecordCheck | None:
        """The compiled check for rows naming ``ref``; None when they need :func:`check_row`."""
        if isinstance(template, Problem):
            return None
        plan = self.mapper.plan(template, tuple(header))
        if plan.nested:
            return None
        return compile_check(plan, header, template, self.limits, self.cross)
