"""A :class:`Row` and its template -> a :class:`TaskRequest` (StartTaskContact parameters).

The mapping contract (public; see issue 3): conventional columns (:data:`CONVENTIONAL`), any other
column named like a field of the row's template becomes that field, ``attr.<key>`` an attribute,
``ref.<key>`` a STRING reference, ``attachment.<file name>`` an attachment (see
:mod:`taskloader.mapping.attachments`). JSONL rows may nest ``fields``, ``attributes`` and
``references`` objects and hold an ``attachments`` list. Empty cells are absent; precedence
for an absent value is the row, then a configured constant, then the template's default. A
conventional column wins over a template field of type NAME/DESCRIPTION/SCHEDULED_TIME/
QUICK_CONNECT feeding the same parameter.

:class:`Mapper` compiles a plan once per (template, column set) so each row costs one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from taskloader.input.readers import Row
from taskloader.mapping import attachments
from taskloader.mapping.compile import hash_cells
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.plan import Plan, build_plan
from taskloader.mapping.rules import Code, Problem
from taskloader.templates.model import TaskTemplate

__all__ = ["CONVENTIONAL", "Mapped", "Mapper", "TaskRequest", "content_key"]

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
        self._unknown: dict[str, None] = {}
        renamed = [c for c, t in self.config.rename.items() if t == "template"]
        if "template" not in self.config.rename:
            renamed.append("template")
        self._template_columns = tuple(renamed)

    @property
    def template_columns(self) -> tuple[str, ...]:
        """The columns that may name a row's template, in the order they are looked at."""
        return self._template_columns

    @property
    def unknown_columns(self) -> tuple[str, ...]:
        """Columns seen so far that map to nothing (for one warning at the end of a run)."""
        return tuple(self._unknown)

    def template_ref(self, row: Row) -> str | None:
        """The row's template name or id: its ``template`` column, else the run-wide default."""
        for column in self._template_columns:
            value = row.values.get(column)
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
            # column looks unknown; only rows with a template can tell.
            if template is not None:
                for column in plan.unknown:
                    self._unknown.setdefault(column, None)
        self._last = (template, columns, plan)
        return plan

    def map_row(self, row: Row, template: TaskTemplate | None) -> Mapped:
        values = row.values
        columns = tuple(values)
        plan = self.plan(template, columns)
        wrong_shape: list[Problem] = []
        if plan.nested:
            wrong_shape = [
                Problem(Code.INVALID_VALUE, name, "must be a JSON object of names to values")
                for name in _NESTED
                if name in values
                and values[name] is not None
                and not isinstance(values[name], dict)
            ]
            values = _flatten(values)
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


def _flatten(values: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in values.items():
        prefix = _NESTED.get(name)
        if prefix is not None:
            if isinstance(value, dict):  # anything else was reported by map_row
                for inner, cell in value.items():
                    flat[prefix + str(inner)] = cell
        else:
            flat[name] = value
    return flat
