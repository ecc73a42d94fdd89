"""A :class:`Row` and its template -> a :class:`TaskRequest` (StartTaskContact parameters).

The mapping contract (public; see issue 3): conventional columns (:data:`CONVENTIONAL`), any other
column named like a field of the row's template becomes that field, ``attr.<key>`` an attribute,
``ref.<key>`` a STRING reference, ``attachment.<file name>`` an attachment (see
:mod:`taskloader.mapping.attachments`); names match with surrounding blanks and letter case
ignored. JSONL rows may nest ``fields``, ``attributes`` and ``references`` objects and hold an
``attachments`` list. Empty cells are absent; precedence for an absent value is the row, then a
configured constant, then the template's default. A conventional column wins over a template
field of type NAME/DESCRIPTION/SCHEDULED_TIME/QUICK_CONNECT feeding the same parameter.

:class:`Mapper` compiles a plan once per (template, column set) so each row costs one pass.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import structlog

from taskloader.input.readers import Row, fold
from taskloader.mapping import attachments
from taskloader.mapping.compile import hash_cells
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.plan import KNOWN, Names, Plan, build_plan
from taskloader.mapping.rules import Code, Problem
from taskloader.templates.model import TaskTemplate

__all__ = ["CONVENTIONAL", "Mapped", "Mapper", "TaskRequest", "content_key"]

log = structlog.get_logger(__name__)

#: The conventional column names (the zero-config contract).
CONVENTIONAL = (
    "template",
    "key",
    "name",
    "description",
    "scheduled_time",
    "contact_flow_id",
    "quick_connect_id",
    "previous_contact_id",
    "related_contact_id",
    "expiry_minutes",
)

_NESTED = {"fields": "", "attributes": "attr.", "references": "ref."}


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """StartTaskContact parameters except InstanceId and ClientToken, ready for boto3."""

    key: str
    params: dict[str, Any]


class Mapped(NamedTuple):
    request: TaskRequest
    problems: list[Problem]


def content_key(values: Mapping[str, Any]) -> str:
    """The row key when the row has none: sha256 (hex) of the sorted non-empty cells."""
    names = tuple(sorted(values))
    return hash_cells(names, tuple(values[n] for n in names), None)


class Mapper:
    """Maps rows; caches one plan per (template, columns). Not thread-safe; one per pipeline."""

    def __init__(self, config: MappingConfig | None = None) -> None:
        self.config = config or MappingConfig()
        self._plans: dict[tuple[str | None, tuple[str, ...]], tuple[TaskTemplate | None, Plan]] = {}
        self._last: tuple[TaskTemplate | None, tuple[str, ...], Plan] | None = None
        self._unknown: dict[str, str | None] = {}  # column -> a known name it is close to
        self._untemplated: dict[str, str | None] = {}  # the same, from rows with no template
        self._templated = False  # a row had a template
        self._names = Names(self.config, None)
        self._template_columns: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._results_noted = False

    def template_columns(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        """The ``columns`` that may name a row's template, in the order they are looked at:
        those renamed to ``template`` first, then one named so."""
        found = self._template_columns.get(columns)
        if found is None:
            names = self._names
            picked = [c for c in columns if names.of(c) == "template"]
            picked.sort(key=lambda c: names.renamed(c) == c)
            if len(self._template_columns) > 1024:
                self._template_columns.clear()
            found = self._template_columns[columns] = tuple(picked)
        return found

    @property
    def unknown_columns(self) -> tuple[str, ...]:
        """Columns seen so far that map to nothing (for one warning at the end of a run).

        Columns of rows with a template; when no row had one, those of rows without.
        """
        return tuple(self._unknown if self._templated else self._untemplated)

    def did_you_mean(self) -> dict[str, str]:
        """For each of :attr:`unknown_columns` close to a known name (a conventional column, a
        template field, a ``[mapping]`` entry): that name."""
        unknown = self._unknown if self._templated else self._untemplated
        return {column: near for column, near in unknown.items() if near}

    def template_ref(self, row: Row) -> str | None:
        """The row's template name or id: its ``template`` column, else the run-wide default."""
        values = row.values
        for column in self.template_columns(tuple(values)):
            value = values.get(column)
            if value:
                return str(value).strip()
        return self.config.default_template

    def plan(self, template: TaskTemplate | None, columns: tuple[str, ...]) -> Plan:
        last = self._last
        if last is not None and last[0] is template and last[1] == columns:
            return last[2]
        cache_key = (template.id if template else None, columns)
        cached = self._plans.get(cache_key)
        if cached is not None and cached[0] is template:
            plan = cached[1]
        else:
            plan = build_plan(self.config, template, columns)
            if len(self._plans) > 1024:
                self._plans.clear()
            self._plans[cache_key] = (template, plan)
            # Without a template (none given, or it failed to resolve) a template field's
            # column looks unknown; rows with a template tell, and only when none has one are
            # the columns of rows without reported.
            self._templated = self._templated or template is not None
            seen = self._unknown if template is not None else self._untemplated
            for column in plan.unknown:
                if column not in seen:
                    seen[column] = _near(column, template, self.config)
            if plan.results and not self._results_noted:
                self._results_noted = True
                log.info(
                    "input.result_columns_ignored",
                    columns=list(plan.results),
                    note="a taskloader result file: its row, line and outcome columns are ignored",
                )
        self._last = (template, columns, plan)
        return plan

    def map_row(self, row: Row, template: TaskTemplate | None) -> Mapped:
        values = row.values
        columns = tuple(values)
        plan = self.plan(template, columns)
        wrong_shape: list[Problem] = []
        if plan.nested:
            given = _nested_objects(values, plan.nested)
            wrong_shape = [
                Problem(Code.INVALID_VALUE, column, "must be a JSON object of names to values")
                for column, _ in plan.nested
                if given[column] is not None and not isinstance(given[column], dict)
            ]
            values = _flatten(given, plan.nested)
            wrong_shape += [
                Problem(Code.INVALID_VALUE, name, f"is given twice: as a key and in {column}")
                for column, _ in plan.nested
                if isinstance(given[column], dict)
                for name in _twice(given, column, plan.nested)
            ]
            plan = self.plan(template, tuple(values))
        key, params, problems = plan.run(values)
        if plan.attachments or plan.attachment_list is not None:
            found, more = attachments.collect(values, plan.attachments, plan.attachment_list)
            if found:
                params["Attachments"] = found
            problems += more
        if wrong_shape:
            problems = [*wrong_shape, *problems]
        return Mapped(TaskRequest(key, params), problems)


def _nested_objects(values: dict[str, Any], nested: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """A nested column written as text (a CSV result file of a JSONL input holds its objects
    as JSON text, or an empty cell for none): the object it holds."""
    out: dict[str, Any] | None = None
    for column, _ in nested:
        value = values[column]
        if not isinstance(value, str):
            continue
        text = value.strip()
        found: Any = None
        if text.startswith("{"):
            try:
                found = json.loads(text)
            except ValueError:
                continue  # reported as the wrong shape
            if not isinstance(found, dict):
                continue
        elif text:
            continue
        out = dict(values) if out is None else out
        out[column] = found
    return values if out is None else out


def _twice(
    values: Mapping[str, Any], column: str, nested: tuple[tuple[str, str], ...]
) -> list[str]:
    """The names the object in ``column`` gives that the row also gives as a top-level key
    (``"Customer name"`` and ``"fields": {"Customer name": ...}``): which one would be sent is
    not the row's to leave to chance."""
    prefix = _NESTED[dict(nested)[column]]
    flat = {fold(k) for k in values if k not in dict(nested)}
    return [prefix + str(k) for k in values[column] if fold(prefix + str(k)) in flat]


def _flatten(values: Mapping[str, Any], nested: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    kinds = dict(nested)
    flat: dict[str, Any] = {}
    for name, value in values.items():
        kind = kinds.get(name)
        if kind is not None:
            if isinstance(value, dict):  # anything else was reported by map_row
                prefix = _NESTED[kind]
                for inner, cell in value.items():
                    flat[prefix + str(inner)] = cell
        else:
            flat[name] = value
    return flat


def _near(column: str, template: TaskTemplate | None, config: MappingConfig) -> str | None:
    """A known name ``column`` is probably a misspelling of (trimmed and case-folded)."""
    candidates = [*KNOWN, *config.rename, *config.attributes, *config.references]
    if template is not None:
        candidates += [f.name for f in template.fields]
    by_fold = {fold(name): name for name in candidates}
    by_fold.pop(fold(column), None)  # a rename or list entry that maps to nothing known
    close = difflib.get_close_matches(fold(column), list(by_fold), n=1, cutoff=0.75)
    return by_fold[close[0]] if close else None
