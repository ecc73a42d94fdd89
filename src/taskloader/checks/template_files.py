"""The rules a task template file must keep before anything is sent: the Connect model's and
Connect's own.

From botocore's Connect model (read, not copied): the lengths of names, descriptions, options
and default values, the field types and the statuses. From Connect's documentation: at most 50
templates per instance, 50 fields per template and 50 options per single-select field; field
names unique; a constraint or default may name only a field of the template; a default must be a
valid value for its field (the same value rules as ``run``'s, from :mod:`taskloader.mapping.rules`).
Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from taskloader.input.readers import fold
from taskloader.mapping.rules import BadValue, rule_for
from taskloader.templates.model import REFERENCE_TYPE, FieldType
from taskloader.templates.portable import (
    CONSTRAINT_KEYS,
    QUICK_CONNECT_FIELD,
    FileProblem,
    TemplateSpec,
)

MAX_TEMPLATES_PER_INSTANCE = 50
MAX_FIELDS_PER_TEMPLATE = 50
MAX_OPTIONS_PER_FIELD = 50


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """The template members' bounds in botocore's Connect model."""

    lengths: Mapping[str, tuple[int, int]]  # shape name -> (min, max)
    field_types: frozenset[str]
    statuses: frozenset[str]
    flow_id_max: int


@functools.cache
def template_limits() -> TemplateLimits:
    from botocore.loaders import Loader

    shapes = Loader().load_service_model("connect", "service-2")["shapes"]
    names = (
        "TaskTemplateName",
        "TaskTemplateDescription",
        "TaskTemplateFieldName",
        "TaskTemplateFieldDescription",
        "TaskTemplateSingleSelectOption",
        "TaskTemplateFieldValue",
    )
    return TemplateLimits(
        lengths={n: (int(shapes[n].get("min", 0)), int(shapes[n]["max"])) for n in names},
        field_types=frozenset(shapes["TaskTemplateFieldType"]["enum"]),
        statuses=frozenset(shapes["TaskTemplateStatus"]["enum"]),
        flow_id_max=int(shapes["ContactFlowId"]["max"]),
    )


class _Checker:
    def __init__(self, spec: TemplateSpec) -> None:
        self.spec = spec
        self.limits = template_limits()
        self.problems: list[FileProblem] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(FileProblem(self.spec.source, where, message))

    def length(self, value: str | None, shape: str, where: str) -> None:
        if value is None:
            return
        low, high = self.limits.lengths[shape]
        if not low <= len(value) <= high:
            self.fail(where, f"must be {low} to {high} characters long, not {len(value)}")


def check_template(spec: TemplateSpec) -> list[FileProblem]:
    """Every rule ``spec`` breaks (an empty list when it keeps them all)."""
    c = _Checker(spec)
    limits = c.limits
    c.length(spec.name, "TaskTemplateName", "Name")
    c.length(spec.description, "TaskTemplateDescription", "Description")
    if spec.status not in limits.statuses:
        c.fail("Status", f"must be one of {', '.join(sorted(limits.statuses))}")
    for ref, where in ((spec.contact_flow, "ContactFlow"), (spec.self_assign_flow, "SelfAssign")):
        if ref is not None and not ref.by_name and len(ref.value) > limits.flow_id_max:
            c.fail(where, f"a flow id has at most {limits.flow_id_max} characters")
    if len(spec.fields) > MAX_FIELDS_PER_TEMPLATE:
        c.fail(
            "Fields",
            f"{len(spec.fields)} fields; a template has at most {MAX_FIELDS_PER_TEMPLATE}",
        )
    seen: dict[str, str] = {}  # folded name -> the name as first written
    for i, f in enumerate(spec.fields):
        where = f"Fields[{i}] {f.name!r}"
        c.length(f.name, "TaskTemplateFieldName", f"Fields[{i}].Id.Name")
        first = seen.get(fold(f.name))
        if first == f.name:
            c.fail(where, "is defined twice (field names must be unique)")
        elif first is not None:
            # Input columns match field names with case and blanks ignored: a file could not
            # say which of the two it fills.
            c.fail(where, f"differs from field {first!r} only in letter case or blanks")
        seen.setdefault(fold(f.name), f.name)
        c.length(f.description, "TaskTemplateFieldDescription", f"{where}.Description")
        if f.type not in limits.field_types:
            c.fail(f"{where}.Type", f"{f.type!r} is not a field type")
        _check_options(c, where, f.type, f.options)
    _check_references(c, {f.name: f.type for f in spec.fields})
    return c.problems


def _check_options(c: _Checker, where: str, ftype: str, options: Sequence[str]) -> None:
    key = f"{where}.SingleSelectOptions"
    if ftype != FieldType.SINGLE_SELECT:
        if options:
            c.fail(key, f"only a SINGLE_SELECT field has options, this one is {ftype}")
        return
    if not options:
        c.fail(key, "a SINGLE_SELECT field needs at least one option")
    if len(options) > MAX_OPTIONS_PER_FIELD:
        c.fail(key, f"{len(options)} options; a field has at most {MAX_OPTIONS_PER_FIELD}")
    for option, count in Counter(options).items():
        if count > 1:
            c.fail(key, f"option {option!r} is listed {count} times")
    for j, option in enumerate(options):
        c.length(option, "TaskTemplateSingleSelectOption", f"{key}[{j}]")


def _check_references(c: _Checker, types: Mapping[str, str]) -> None:
    spec = c.spec
    for key in CONSTRAINT_KEYS:
        for name in spec.constraint(key):
            if name not in types:
                c.fail(
                    f"Constraints.{key}", f"names {name!r}, which is not a field of the template"
                )
    options = {f.name: f.options for f in spec.fields}
    for name, count in Counter(d.field for d in spec.defaults).items():
        if count > 1:
            c.fail(f"Defaults {name!r}", f"is given {count} times")
    for d in spec.defaults:
        where = f"Defaults {d.field!r}"
        ftype = types.get(d.field)
        if ftype is None:
            c.fail(where, "names a field that the template does not define")
            continue
        if d.quick_connect is not None or ftype == QUICK_CONNECT_FIELD:
            continue
        c.length(d.value, "TaskTemplateFieldValue", where)
        if d.value and ftype in c.limits.field_types and _has_rule(ftype):
            try:
                rule_for(FieldType(ftype), options[d.field])(d.value)
            except BadValue as exc:
                c.fail(where, f"not a valid default for a {ftype} field: {exc.message}")


def _has_rule(ftype: str) -> bool:
    return FieldType(ftype) in REFERENCE_TYPE


def check_templates(specs: Iterable[TemplateSpec]) -> list[FileProblem]:
    """The rules of each file, and those across the files: names unique, at most 50."""
    specs = list(specs)
    problems = [p for spec in specs for p in check_template(spec)]
    by_name: dict[str, list[str]] = {}
    for spec in specs:
        by_name.setdefault(spec.name, []).append(spec.source)
    for name, sources in by_name.items():
        if len(sources) > 1:
            for source in sources:
                others = ", ".join(s for s in sources if s != source)
                problems.append(
                    FileProblem(source, "Name", f"{name!r} is also the name in {others}")
                )
    if len(specs) > MAX_TEMPLATES_PER_INSTANCE:
        problems.append(
            FileProblem(
                "the directory",
                "",
                f"{len(specs)} templates; an instance holds at most {MAX_TEMPLATES_PER_INSTANCE}",
            )
        )
    return problems
