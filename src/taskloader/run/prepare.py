"""The front half shared by `validate` and `run`: read rows, resolve templates, map, validate.

Reading and parsing are blocking, so rows are read in chunks in a worker thread. For `run`,
mapping and validation are pure functions run on the event loop between awaits (microseconds per
row, at 2 sends a second). `validate` reads and checks each chunk of CSV records in one worker
thread call (:class:`taskloader.run.fastcheck.RecordChecker`), calling back to the loop only to
resolve a template.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

import anyio

from taskloader.checks.request import CrossRowChecks, Limits, check_row, template_problem
from taskloader.errors import InputFileError
from taskloader.input.readers import Row
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.header import looks_like_data, no_known_column
from taskloader.mapping.mapper import Mapper, TaskRequest
from taskloader.mapping.rules import Code, Problem
from taskloader.templates.cache import TemplateCache, TemplateLookupError
from taskloader.templates.model import TaskTemplate

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


async def read_in_chunks(reader: Iterator[T], size: int = CHUNK) -> AsyncIterator[list[T]]:
    """Pull rows (or records) from a blocking iterator in a worker thread, ``size`` at a time."""
    while True:
        chunk = await anyio.to_thread.run_sync(lambda: list(islice(reader, size)))
        if not chunk:
            return
        yield chunk


class Preparer:
    """Maps and validates rows in input order (cross-row checks depend on that order)."""

    def __init__(self, cache: TemplateCache, mapping: MappingConfig, limits: Limits) -> None:
        self._cache = cache
        self.mapper = Mapper(mapping)
        self.limits = limits
        self.cross = CrossRowChecks()
        self._templates: dict[str, TaskTemplate | Problem] = {}
        self._columns_checked = False

    async def check_columns(
        self, source: str, columns: tuple[str, ...], encoding: str | None = None
    ) -> None:
        """Refuse a file none of whose first columns the mapping knows (with the run-wide
        template, if any): a wrong delimiter, a wrong encoding, or no header row. Only the first
        call checks. When the run-wide template does not resolve, only a first row that looks
        like data is refused (its values would otherwise be reported as unknown columns); the
        rest is left to the rows' problems."""
        if self._columns_checked or not columns:
            return
        self._columns_checked = True
        template = await self.resolve(self.mapper.config.default_template)
        unresolved = isinstance(template, Problem)
        plan = self.mapper.plan(None if isinstance(template, Problem) else template, columns)
        known = len(columns) - len(plan.unknown) - len(plan.results)
        if not known and (not unresolved or looks_like_data(columns)):
            raise InputFileError(source, no_known_column(columns, encoding))

    def resolved(self) -> dict[str, str]:
        """The template references resolved so far, with the name each resolved to."""
        return {
            ref: found.name
            for ref, found in self._templates.items()
            if isinstance(found, TaskTemplate)
        }

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
        if not self._columns_checked and rows:
            await self.check_columns(rows[0].source, tuple(rows[0].values))
        for row in rows:
            ref = mapper.template_ref(row)
            template = None if ref is None else templates.get(ref)
            if template is None and ref is not None:
                template = await self.template_for(row)
            checked = check_row(row, template, mapper, limits, cross)
            append(Prepared(row, checked.request, checked.problems))
        return out
