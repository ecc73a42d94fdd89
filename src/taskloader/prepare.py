"""The front half shared by `validate` and `run`: read rows, resolve templates, map, validate.

Reading and parsing are blocking, so rows are read in chunks in a worker thread. For `run`,
mapping and validation are pure functions run on the event loop between awaits (microseconds per
row, at 2 sends a second). `validate` reads and checks each chunk of CSV records in one worker
thread call (:class:`taskloader.record_checker.RecordChecker`), calling back to the loop only to
resolve a template.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from typing import Any, TypeVar

import anyio

from taskloader.errors import InputFileError, UsageError
from taskloader.mapping import Mapper, MappingConfig, TaskRequest
from taskloader.rules import Code, Problem
from taskloader.s3 import S3Url, is_s3
from taskloader.s3_input import open_s3_input
from taskloader.settings import Settings
from taskloader.source import Row, RowReader, SourceOptions, open_rows, read_rows
from taskloader.template import TaskTemplate
from taskloader.templates import TemplateCache, TemplateLookupError
from taskloader.validation import CrossRowChecks, Limits, check_row, template_problem

CHUNK = 512
T = TypeVar("T")


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


def count_rows(
    location: str, settings: Settings, checkpoint: Callable[[], None] = lambda: None
) -> int | None:
    """How many rows a local input holds, for the progress bar's total and ETA; None for stdin
    and S3 (read once only) and for a file the run's own reader will refuse.

    Blocking. ``checkpoint`` is called between chunks: in a worker thread,
    ``anyio.from_thread.check_cancelled`` stops the count when the run ends first.
    """
    if location == "-" or is_s3(location):
        return None
    count = 0
    try:
        with open_input(location, settings) as reader:
            if reader.records is not None:
                while chunk := reader.records.read(4096)[1]:
                    checkpoint()
                    count += len(chunk)
                return count
            while chunk_rows := list(islice(reader, 4096)):
                checkpoint()
                count += len(chunk_rows)
    except InputFileError:
        return None
    return count


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
