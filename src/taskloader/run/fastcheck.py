"""`validate`'s fast path over one CSV file: chunks of records in, problems of invalid rows out.

Each record goes through the check compiled for its template (:mod:`taskloader.checks.compiled`);
a record that check cannot take (ragged, a template that did not resolve) is mapped and
validated as a :class:`Row` by :func:`validation.check_row`, the path `run` uses, with the same
duplicate digests as the compiled check. A file with nested column names (``fields``,
``attributes``, ``references``) takes :func:`check_row` for every row, and so does a file with
attachment columns. The records are whole, cells of unnamed columns too
(:mod:`taskloader.input.csvheader`): both paths leave those cells out of everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taskloader.checks.compiled import RecordCheck, compile_check, record_digest
from taskloader.checks.request import check_row, digest
from taskloader.input.csvheader import CsvHeader
from taskloader.input.readers import Row, csv_row
from taskloader.mapping.outcome import result_columns
from taskloader.mapping.rules import Problem
from taskloader.run.prepare import Preparer
from taskloader.templates.model import TaskTemplate

#: Resolves a template name or id (None: no template) to the template or the row problem.
Resolve = Callable[[str | None], TaskTemplate | Problem | None]
#: More problems of a mapped request (``--check-attachments``: its S3 objects); blocking.
Extra = Callable[[Mapping[str, Any]], list[Problem]]

_UNSEEN: Any = object()


class RecordChecker:
    """Checks the records of one CSV file (one ``header``: ``CsvRecords.header``), in order,
    chunk after chunk.

    Blocking, and meant for a worker thread: the thread that read a chunk checks it while its
    cells are still in that core's cache. ``resolve`` is called once per template name, from
    that thread; `validate` passes :meth:`Preparer.resolve` run back on the event loop.
    """

    def __init__(
        self, preparer: Preparer, name: str, header: CsvHeader, extra: Extra | None = None
    ) -> None:
        self._preparer = preparer
        self._extra = extra
        self._name = name
        self._header = header
        self._columns = header.names
        added = set(result_columns(header.names))
        # the cells that are no row's content: an earlier result file's, and unnamed columns'
        results = (i for i, c in zip(header.named, header.names, strict=True) if c in added)
        self._skip = frozenset((*results, *header.unnamed))
        mapper = preparer.mapper
        plan = mapper.plan(None, header.names)
        self._key_column = plan.key_column
        # Nested names (`fields`, ...) change what a row's content key covers: rows of such a
        # file take check_row whole, content key and all, as `run` does.
        self._nested = plan.nested
        self._picks = [header.cells.index(c) for c in mapper.template_columns(header.names)]
        self._checks: dict[str | None, RecordCheck | None] = {}
        self._templates: dict[str | None, TaskTemplate | Problem | None] = {}

    def check(
        self, first: int, lines: Sequence[int], records: list[list[str]], resolve: Resolve
    ) -> tuple[int, list[tuple[Row, list[Problem]]]]:
        """Records numbered from ``first`` that start on ``lines``: how many are valid, and each
        invalid one as a :class:`Row` with its problems."""
        limits, width = self._preparer.limits, self._header.width
        now = limits.clock()
        latest = now + limits.schedule_horizon
        default = self._preparer.mapper.config.default_template
        invalid: list[tuple[Row, list[Problem]]] = []

        def add(i: int, problems: list[Problem], row: Row | None = None) -> None:
            if problems:
                row = row or csv_row(self._name, self._header, first + i, lines[i], records[i])
                invalid.append((row, problems))

        def fall_back(i: int, ref: str | None) -> None:
            row = csv_row(self._name, self._header, first + i, lines[i], records[i])
            add(i, self._fallback(row, records[i], self._template(ref, resolve)), row)

        only = None if self._picks else self._check_for(default, resolve)
        if only is not None:  # one template for every record: checked in runs, not one by one
            i = 0
            while i < len(records):
                i, bad = only.rows(records, i, now, latest)
                for j, problems in bad:
                    add(j, problems)
                if i < len(records):  # a ragged record
                    fall_back(i, default)
                    i += 1
            return len(records) - len(invalid), invalid
        for i, record in enumerate(records):
            ref = self._template_ref(record, default)
            check = self._check_for(ref, resolve)
            if check is not None and len(record) == width:
                add(i, check.row(record, now, latest))
            else:
                fall_back(i, ref)
        return len(records) - len(invalid), invalid

    def _template_ref(self, record: list[str], default: str | None) -> str | None:
        """As :meth:`Mapper.template_ref` does for the record's row."""
        for j in self._picks:
            if j < len(record) and record[j]:
                return record[j].strip()
        return default

    def _template(self, ref: str | None, resolve: Resolve) -> TaskTemplate | Problem | None:
        """``resolve(ref)``, asked once per name (each ask is a round trip to the event loop)."""
        found = self._templates.get(ref, _UNSEEN)
        if found is _UNSEEN:
            found = self._templates[ref] = resolve(ref)
        return found  # type: ignore[no-any-return]

    def _check_for(self, ref: str | None, resolve: Resolve) -> RecordCheck | None:
        check = self._checks.get(ref, _UNSEEN)
        if check is _UNSEEN:
            check = self._checks[ref] = self._compile(self._template(ref, resolve))
        return check  # type: ignore[no-any-return]

    def _compile(self, template: TaskTemplate | Problem | None) -> RecordCheck | None:
        """The compiled check for ``template``; None when rows need :func:`check_row`."""
        if isinstance(template, Problem) or self._nested:
            return None
        preparer = self._preparer
        plan = preparer.mapper.plan(template, self._columns)
        if plan.nested or plan.attachments or plan.attachment_list is not None:
            return None  # attachments are checked by the mapper (mapping.attachments) only
        return compile_check(plan, self._header, template, preparer.limits, preparer.cross)

    def _fallback(
        self, row: Row, record: list[str], template: TaskTemplate | Problem | None
    ) -> list[Problem]:
        preparer = self._preparer
        if self._nested:
            request, problems = check_row(
                row, template, preparer.mapper, preparer.limits, preparer.cross
            )
        else:
            request, problems = check_row(row, template, preparer.mapper, preparer.limits)
            key_column = self._key_column
            if len(record) < self._header.width:  # a short record: the key column may be cut
                # off, and another column that maps to `key` (a rename) be the row's key
                key_column = preparer.mapper.plan(None, tuple(row.values)).key_column
            key = row.values.get(key_column, "") if key_column else ""
            d = digest(key) if key else record_digest(record, self._header.width, self._skip)
            preparer.cross.check_digest_into(d, request.params.get("PreviousContactId"), problems)
        if self._extra is not None and "Attachments" in request.params:
            problems += self._extra(request.params)
        return problems
