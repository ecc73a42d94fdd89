"""A :class:`Row` and its template -> a :class:`TaskRequest` (StartTaskContact parameters).

The mapping contract (public; see issue 3): conventional columns (:data:`CONVENTIONAL`), any other
column named like a field of the row's template becomes that field, ``attr.<key>`` an attribute,
``ref.<key>`` a STRING reference. JSONL rows may nest ``fields``, ``attributes`` and
``references`` objects. Empty cells are absent; precedence for an absent value is the row, then a
configured constant, then the template's default. A conventional column wins over a template
field of type NAME/DESCRIPTION/SCHEDULED_TIME/QUICK_CONNECT feeding the same parameter.

:class:`Mapper` compiles a plan once per (template, column set) so each row costs one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from taskloader.mapping_plan import Plan, build_plan
from taskloader.rules import BadValue, Problem, scalar_text
from taskloader.source import Row
from taskloader.template import TaskTemplate

__all__ = ["CONVENTIONAL", "Mapped", "Mapper", "MappingConfig", "TaskRequest", "content_key"]

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
class MappingConfig:
    """The ``[mapping]`` section: how columns become request fields."""

    rename: Mapping[str, str] = field(default_factory=dict)  # input column -> target name
    constants: Mapping[str, str] = field(default_factory=dict)  # target name -> value
    attributes: Sequence[str] = ()  # columns sent as Attributes (key = column name)
    references: Sequence[str] = ()  # columns sent as STRING references
    ignore: Sequence[str] = ()  # columns not sent at all
    strict: bool = False  # unknown columns are row problems, not just a warning
    default_template: str | None = None  # the run-wide template (name or id)


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
    return _hash_cells(names, tuple(values[n] for n in names), None)


def _hash_cells(names: tuple[str, ...], cells: tuple[Any, ...], template: str | None) -> str:
    # Column names and cells joined by NUL, which CSV cells cannot contain (the reader refuses
    # NUL bytes). ``template`` is that encoding as a %-format, for rows without empty cells.
    if template is not None and "" not in cells and None not in cells:
        return hashlib.sha256((template % cells).encode()).hexdigest()
    parts = []
    for name, cell in zip(names, cells, strict=True):
        if cell is not None and cell != "":
            parts.append(f"{name}\x00%s\x00" % (cell,))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


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
        if plan.nested:
            values = _flatten(values)
            plan = self.plan(template, tuple(values))
        params: dict[str, Any] = {}
        refs: dict[str, Any] = {}
        attrs: dict[str, Any] = {}
        problems: list[Problem] = []
        sinks = (refs, attrs, params)
        get = values.get
        for column, sink, target, rule, fallback, label in plan.entries:
            value = get(column)
            if value.__class__ is not str and value is not None:
                try:
                    value = scalar_text(value)
                except BadValue as exc:
                    problems.append(Problem(exc.code, label, exc.message))
                    continue
            if not value:
                value = fallback
                if value is None:
                    continue
            try:
                sinks[sink][target] = rule(value)
            except BadValue as exc:
                problems.append(Problem(exc.code, label, exc.message))
        if template is not None:
            params["TaskTemplateId"] = template.id
        if refs:
            params["References"] = refs
        if attrs:
            params["Attributes"] = attrs
        key = None
        if plan.key_column is not None:
            raw = get(plan.key_column)
            if raw is not None and raw != "":
                key = raw if raw.__class__ is str else str(raw)
        if key is None:
            key = _hash_cells(plan.sorted_columns, plan.sorted_cells(values), plan.key_template)
        return Mapped(TaskRequest(key, params), problems)


def _flatten(values: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in values.items():
        prefix = _NESTED.get(name)
        if prefix is not None and isinstance(value, dict):
            for inner, cell in value.items():
                flat[prefix + str(inner)] = cell
        else:
            flat[name] = value
    return flat
