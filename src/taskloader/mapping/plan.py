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

from taskloader.input.readers import fold
from taskloader.mapping.attachments import ATTACHMENT_PREFIX, ATTACHMENTS_KEY
from taskloader.mapping.compile import Compiled, Entry, compile_plan
from taskloader.mapping.outcome import result_columns
from taskloader.mapping.rules import (
    BadValue,
    Code,
    LengthRule,
    api_limits,
    expiry_minutes,
    rule_for,
)
from taskloader.mapping.times import TimeParser, time_parser
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
#: The conventional column feeding each top-level parameter a template field may also feed.
CONVENTIONAL_PARAMS = {
    **PLAIN_PARAMS,
    "scheduled_time": "ScheduledTime",
    "expiry_minutes": "SegmentAttributes",
}

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
    #: (column, ``fields``/``attributes``/``references``) of each column holding a JSONL object
    nested: tuple[tuple[str, str], ...]
    sorted_columns: tuple[str, ...]
    key_template: str | None  # "%"-format of the canonical key encoding, all cells present
    sorted_cells: Callable[[Any], tuple[Any, ...]]
    run: Compiled  # the row's (key, params, problems): the entries compiled to straight-line code
    #: (column, file name) of each ``attachment.<file name>`` column (mapping.attachments)
    attachments: tuple[tuple[str, str], ...] = ()
    #: the column holding a JSONL ``attachments`` list
    attachment_list: str | None = None
    #: columns an earlier result file added (``row``, ``line``, ``taskloader.*``): ignored, and
    #: not part of the content key, so a result file fed back keys its rows as its input did
    results: tuple[str, ...] = ()


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


@dataclass(frozen=True, slots=True)
class ScheduledTimeRule:
    """``ScheduledTime`` from a date-time, refused as ``invalid_scheduled_time``."""

    times: TimeParser

    def __call__(self, value: str) -> datetime:
        try:
            return self.times.parse(value)
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


#: Every name a column may have besides template fields and ``attr.``/``ref.`` (folded).
KNOWN = frozenset({*CONVENTIONAL_PARAMS, "key", "template"})
#: The names whose column has a role of its own for the row (if the template has a field of
#: that name too, the column also fills it).
ROLES = frozenset({"key", "template"})


class Names:
    """Column and target names as the mapping matches them: blanks around a name and letter case
    do not matter (``Name``, ``name `` and ``NAME`` are ``name``; ``customer NAME`` is the
    template field ``Customer name``). The suffix of ``attr.``/``ref.`` keeps its case."""

    def __init__(self, config: MappingConfig, template: TaskTemplate | None) -> None:
        self._rename = {fold(k): v for k, v in config.rename.items()}
        self._exact = config.rename
        fields = [f.name for f in template.fields] if template else []
        self._named = {name: name for name in fields}
        self._fields = {fold(name): name for name in fields}
        #: folded names shared by fields that differ only in case or blanks (a Connect template
        #: may hold "Email" and "email"): a column must be written exactly as one of them
        self.ambiguous = {
            fold(name): sorted(n for n in fields if fold(n) == fold(name))
            for name in fields
            if sum(fold(n) == fold(name) for n in fields) > 1
        }
        self.attributes = frozenset(map(fold, config.attributes))
        self.references = frozenset(map(fold, config.references))
        self.ignore = frozenset(map(fold, config.ignore))

    def renamed(self, column: str) -> str:
        """What ``column`` is renamed to by ``[mapping] rename`` (itself if not renamed)."""
        found = self._exact.get(column)
        return found if found is not None else self._rename.get(fold(column), column)

    def target(self, name: str) -> str:
        """The canonical spelling of a target name. A template field's name wins over a name
        taskloader gives a meaning (a field ``References`` is that field, not JSONL's nested
        ``references``), except the row's ``key`` and ``template``, which keep their role."""
        text = name.strip()
        folded = text.casefold()
        if folded.startswith(("attr.", "ref.")):
            prefix, _, rest = text.partition(".")
            return f"{prefix.casefold()}.{rest}"
        field = self._named.get(text) or (
            None if folded in self.ambiguous else self._fields.get(folded)
        )
        if field is not None and folded not in ROLES:
            return field
        if folded in KNOWN or folded in NESTED_KEYS:
            return folded
        return text

    def field(self, name: str) -> str | None:
        """The template field a name matches (exactly, else with case and blanks folded)."""
        folded = fold(name)
        exact = self._named.get(name.strip())
        return exact or (None if folded in self.ambiguous else self._fields.get(folded))

    def of(self, column: str) -> str:
        return self.target(self.renamed(column))


def _classify(
    config: MappingConfig,
    names: Names,
    template: TaskTemplate | None,
    target: str,
    column: str | None,
) -> tuple[int, str, Callable[[str], Any], int] | None:
    """(kind, target, rule, precedence) for a canonical target name; None if unknown."""
    times = time_parser(config.timezone, config.date_format)
    if target in PLAIN_PARAMS and names.field(target) is None:
        param = PLAIN_PARAMS[target]
        return PARAM, param, _param_rule(param), 1
    if target == "scheduled_time" and names.field(target) is None:
        return PARAM, "ScheduledTime", ScheduledTimeRule(times), 1
    if target == "expiry_minutes" and names.field(target) is None:
        return PARAM, "SegmentAttributes", _expiry, 1
    field = (
        template.field_named(target[4:] if target.startswith("ref.") else target)
        if (template)
        else None
    )
    folded = fold(column) if column is not None else None
    if target.startswith("attr.") or folded in names.attributes:
        key = target[5:] if target.startswith("attr.") else target
        return ATTR, key, str, 0
    if target.startswith("ref.") or folded in names.references:
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
        return PARAM, "ScheduledTime", ScheduledTimeRule(times), 0
    if field.type is FieldType.EXPIRY_DURATION:
        return PARAM, "SegmentAttributes", _expiry, 0
    if field.type is FieldType.DATE_TIME:
        return REF, field.name, _reference(times.epoch_seconds, REFERENCE_TYPE[field.type]), 0
    if field.type in REFERENCE_TYPE:
        rule = _reference(rule_for(field.type, field.options), REFERENCE_TYPE[field.type])
        return REF, field.name, rule, 0
    text = f"template fields of type {field.type.value} cannot be set from a file"
    return BAD, field.name, _refuse(Code.UNSUPPORTED_FIELD, text), 0


def build_plan(
    config: MappingConfig, template: TaskTemplate | None, columns: tuple[str, ...]
) -> Plan:
    names = Names(config, template)
    ignore = names.ignore
    constants = {names.target(k): v for k, v in config.constants.items()}
    found: list[tuple[int, Entry]] = []
    covered: set[str] = set()
    unknown: list[str] = []
    key_column = None
    nested: list[tuple[str, str]] = []
    attachments: list[tuple[str, str]] = []
    attachment_list = None
    defaults = template.defaults if template is not None else {}
    results = result_columns(columns)
    for column in columns:
        if column in results:
            continue
        target = names.of(column)
        if fold(column) in ignore or fold(target) in ignore:
            continue
        if target in ROLES:
            if target == "key":
                key_column = column
            field = names.field(target)
            if field is None:
                continue
            target = field  # the column also fills the template's field of that name
        is_field = names.field(target) is not None
        if not is_field and fold(target) in names.ambiguous:
            text = "matches the fields " + " and ".join(map(repr, names.ambiguous[fold(target)]))
            text += " once letter case is ignored: name the column exactly as one of them"
            rule = _refuse(Code.AMBIGUOUS_FIELD, text)
            found.append((0, (column, BAD, column, rule, None, column)))
            continue
        if not is_field and target in NESTED_KEYS:  # a JSONL object of fields, attributes...
            nested.append((column, target))
            continue
        if not is_field and fold(target).startswith(ATTACHMENT_PREFIX):
            attachments.append((column, target[len(ATTACHMENT_PREFIX) :]))
            continue
        if not is_field and fold(target) == ATTACHMENTS_KEY:
            attachment_list = column
            continue
        kind = _classify(config, names, template, target, column)
        if kind is None:
            unknown.append(column)
            if config.strict:
                rule = _refuse(Code.UNKNOWN_COLUMN, "column is not mapped to any field")
                found.append((0, (column, BAD, column, rule, None, column)))
            continue
        fallback = constants.get(target, defaults.get(target))
        covered.add(target)
        found.append((kind[3], (column, kind[0], kind[1], kind[2], fallback, target)))
    for target, value in [*defaults.items(), *constants.items()]:
        if target in covered or fold(target) in ignore:
            continue
        kind = _classify(config, names, template, target, None)
        if kind is None or kind[0] == BAD:
            continue
        covered.add(target)
        value = constants.get(target, value)
        found.append((kind[3], (NO_COLUMN, kind[0], kind[1], kind[2], value, target)))
    found.sort(key=operator.itemgetter(0))  # stable: template fields before conventional
    names_sorted = tuple(sorted(c for c in columns if c not in results))
    entries = tuple(entry for _, entry in found)
    key_template = "".join(n.replace("%", "%%") + "\x00%s\x00" for n in names_sorted) or None
    sorted_cells = _getter(names_sorted)
    template_id = template.id if template is not None else None
    return Plan(
        entries=entries,
        key_column=key_column,
        unknown=tuple(unknown),
        nested=tuple(nested),
        sorted_columns=names_sorted,
        key_template=key_template,
        sorted_cells=sorted_cells,
        run=compile_plan(
            entries, template_id, key_column, names_sorted, key_template, sorted_cells
        ),
        attachments=tuple(attachments),
        attachment_list=attachment_list,
        results=results,
    )


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) >= 2:
        return operator.itemgetter(*names)
    return lambda values: tuple(values[n] for n in names)
