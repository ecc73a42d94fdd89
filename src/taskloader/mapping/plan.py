"""The compiled mapping of one (template, column set): what each column feeds and how.

Built once by :class:`taskloader.mapping.mapper.Mapper` and reused for every row with the same
columns, so the per-row work is a single loop over precomputed entries.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskloader.mapping.attachments import ATTACHMENT_PREFIX, ATTACHMENTS_KEY
from taskloader.mapping.compile import Compiled, Entry, compile_plan
from taskloader.mapping.rules import (
    BadValue,
    Code,
    LengthRule,
    api_limits,
    expiry_minutes,
    parse_time,
    rule_for,
)
from taskloader.templates.model import REFERENCE_TYPE, FieldType, TaskTemplate

if TYPE_CHECKING:
    from taskloader.mapping.config import MappingConfig

# Entry kinds; REF, ATTR and PARAM are also the index of the dict an entry's value goes into.
REF, ATTR, PARAM, BAD = range(4)

#: The "column" of entries fed only by a constant or a template default (never a real column:
#: the readers refuse NUL).
NO_COLUMN = "\x00"

#: Conventional columns that are plain top-level string parameters.
PLAIN_PARAMS = {
    "name": "Name",
    "description": "Description",
    "contact_flow_id": "ContactFlowId",
    "quick_connect_id": "QuickConnectId",
    "previous_contact_id": "PreviousContactId",
    "related_contact_id": "RelatedContactId",
}
NESTED_KEYS = frozenset({"fields", "attributes", "references"})

_TOP_LEVEL_FIELD = {
    FieldType.NAME: "Name",
    FieldType.DESCRIPTION: "Description",
    FieldType.QUICK_CONNECT: "QuickConnectId",
}


@dataclass(frozen=True, slots=True)
class Plan:
    entries: tuple[Entry, ...]
    key_column: str | None
    unknown: tuple[str, ...]
    nested: bool
    sorted_columns: tuple[str, ...]
    key_template: str | None  # "%"-format of the canonical key encoding, all cells present
    sorted_cells: Callable[[Any], tuple[Any, ...]]
    run: Compiled  # the row's (key, params, problems): the entries compiled to straight-line code
    #: (column, file name) of each ``attachment.<file name>`` column (mapping.attachments)
    attachments: tuple[tuple[str, str], ...] = ()
    #: the column holding a JSONL ``attachments`` list
    attachment_list: str | None = None


def _max_length(limit: int) -> Callable[[str], str]:
    return LengthRule(limit, Code.VALUE_TOO_LONG, f"longer than {limit} characters")


def _refuse(code: Code, text: str) -> Callable[[str], str]:
    def refuse(_value: str) -> str:
        raise BadValue(code, text)

    return refuse


@dataclass(frozen=True, slots=True)
class ReferenceRule:
    """A Reference ``{"Value": check(cell), "Type": ref_type}``."""

    check: Callable[[str], str]
    ref_type: str

    def __call__(self, value: str) -> dict[str, str]:
        return {"Value": self.check(value), "Type": self.ref_type}


def _reference(check: Callable[[str], str], ref_type: str) -> Callable[[str], dict[str, str]]:
    return ReferenceRule(check, ref_type)


def _scheduled_time(value: str) -> datetime:
    try:
        return parse_time(value)
    except BadValue as exc:
        raise BadValue(Code.INVALID_SCHEDULED_TIME, exc.message) from None


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """SegmentAttributes ``connect:ContactExpiry`` from whole minutes; ``check`` alone is all a
    dry run needs (see :func:`mapping_compile.assign`)."""

    check: Callable[[str], int] = expiry_minutes

    def __call__(self, value: str) -> dict[str, Any]:
        minutes = self.check(value)
        expiry = {"ExpiryDuration": {"ValueInteger": minutes}}
        return {"connect:ContactExpiry": {"ValueMap": expiry}}


_expiry = ExpiryRule()


def _param_rule(param: str) -> Callable[[str], str]:
    limit = api_limits().param_max.get(param)
    if param in ("Name", "Description") or limit is None:
        return str  # Name/Description lengths are checked by the validator with their own codes
    return _max_length(limit)


def _classify(
    config: MappingConfig, template: TaskTemplate | None, target: str, column: str | None
) -> tuple[int, str, Callable[[str], Any], int] | None:
    """(kind, target, rule, precedence) for a target name; None if unknown."""
    if target in PLAIN_PARAMS:
        param = PLAIN_PARAMS[target]
        return PARAM, param, _param_rule(param), 1
    if target == "scheduled_time":
        return PARAM, "ScheduledTime", _scheduled_time, 1
    if target == "expiry_minutes":
        return PARAM, "SegmentAttributes", _expiry, 1
    field = (
        template.field_named(target[4:] if target.startswith("ref.") else target)
        if (template)
        else None
    )
    if target.startswith("attr.") or (column is not None and column in config.attributes):
        key = target[5:] if target.startswith("attr.") else target
        return ATTR, key, str, 0
    if target.startswith("ref.") or (column is not None and column in config.references):
        key = target[4:] if target.startswith("ref.") else target
        if field is not None:
            text = "names a template field; use the field's own column"
            return BAD, key, _refuse(Code.INVALID_REFERENCE_KEY, text), 0
        return REF, key, _reference(_max_length(api_limits().reference_value_max), "STRING"), 0
    if field is None:
        return None
    if field.type in _TOP_LEVEL_FIELD:
        param = _TOP_LEVEL_FIELD[field.type]
        return PARAM, param, _param_rule(param), 0
    if field.type is FieldType.SCHEDULED_TIME:
        return PARAM, "ScheduledTime", _scheduled_time, 0
    if field.type is FieldType.EXPIRY_DURATION:
        return PARAM, "SegmentAttributes", _expiry, 0
    if field.type in REFERENCE_TYPE:
        rule = _reference(rule_for(field.type, field.options), REFERENCE_TYPE[field.type])
        return REF, field.name, rule, 0
    text = f"template fields of type {field.type.value} cannot be set from a file"
    return BAD, field.name, _refuse(Code.UNSUPPORTED_FIELD, text), 0


def build_plan(
    config: MappingConfig, template: TaskTemplate | None, columns: tuple[str, ...]
) -> Plan:
    ignore = frozenset(config.ignore)
    found: list[tuple[int, Entry]] = []
    covered: set[str] = set()
    unknown: list[str] = []
    key_column = None
    nested = False
    attachments: list[tuple[str, str]] = []
    attachment_list = None
    defaults = template.defaults if template is not None else {}
    for column in columns:
        target = config.rename.get(column, column)
        if column in ignore or target in ignore or target == "template":
            continue
        if target == "key":
            key_column = column
            continue
        if target.startswith(ATTACHMENT_PREFIX):
            attachments.append((column, target[len(ATTACHMENT_PREFIX) :]))
            continue
        if target == ATTACHMENTS_KEY:
            attachment_list = column
            continue
        kind = _classify(config, template, target, column)
        if kind is None:
            if target in NESTED_KEYS:
                nested = True
            unknown.append(column)
            if config.strict:
                rule = _refuse(Code.UNKNOWN_COLUMN, "column is not mapped to any field")
                found.append((0, (column, BAD, column, rule, None, column)))
            continue
        fallback = config.constants.get(target, defaults.get(target))
        covered.add(target)
        found.append((kind[3], (column, kind[0], kind[1], kind[2], fallback, target)))
    for target, value in [*defaults.items(), *config.constants.items()]:
        if target in covered or target in ignore:
            continue
        kind = _classify(config, template, target, None)
        if kind is None or kind[0] == BAD:
            continue
        covered.add(target)
        value = config.constants.get(target, value)
        found.append((kind[3], (NO_COLUMN, kind[0], kind[1], kind[2], value, target)))
    found.sort(key=operator.itemgetter(0))  # stable: template fields before conventional
    names = tuple(sorted(columns))
    entries = tuple(entry for _, entry in found)
    key_template = "".join(n.replace("%", "%%") + "\x00%s\x00" for n in names) or None
    sorted_cells = _getter(names)
    template_id = template.id if template is not None else None
    return Plan(
        entries=entries,
        key_column=key_column,
        unknown=tuple(unknown),
        nested=nested,
        sorted_columns=names,
        key_template=key_template,
        sorted_cells=sorted_cells,
        run=compile_plan(entries, template_id, key_column, names, key_template, sorted_cells),
        attachments=tuple(attachments),
        attachment_list=attachment_list,
    )


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) >= 2:
        return operator.itemgetter(*names)
    return lambda values: tuple(values[n] for n in names)
