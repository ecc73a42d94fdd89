"""Row validation: request-level rules, cross-row checks, and the per-row entry point.

Value rules (types, formats, options) run while mapping (:mod:`taskloader.mapping.rules`); this
module checks the request as a whole against its template and the API's limits, and the file as a
whole
(duplicate keys, rows sharing a previous contact). Every problem is reported, not just the first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from taskloader.checks.spill import DigestCounter, DigestSet
from taskloader.input.readers import Row, fold
from taskloader.mapping.mapper import Mapper, TaskRequest
from taskloader.mapping.plan import CONVENTIONAL_PARAMS
from taskloader.mapping.rules import (
    ATTRIBUTES_MAX_BYTES,
    PREVIOUS_CONTACT_MAX,
    REFERENCES_MAX_BYTES,
    Code,
    Problem,
    api_limits,
)
from taskloader.templates.model import FieldType, TaskTemplate

__all__ = ["Checked", "Code", "CrossRowChecks", "Limits", "Problem", "check_row", "validate"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """What validation checks against; ``clock`` is injectable for tests."""

    schedule_horizon: timedelta = timedelta(days=6)
    clock: Callable[[], datetime] = _utcnow
    name_max: int = field(default_factory=lambda: api_limits().name_max)
    description_max: int = field(default_factory=lambda: api_limits().description_max)
    references_max_bytes: int = REFERENCES_MAX_BYTES
    attributes_max_bytes: int = ATTRIBUTES_MAX_BYTES


class Checked(NamedTuple):
    request: TaskRequest
    problems: list[Problem]


_TEMPLATE_MESSAGES = {
    Code.UNKNOWN_TEMPLATE: "no task template has this name or id",
    Code.AMBIGUOUS_TEMPLATE: "several task templates have this name; use the id",
    Code.TEMPLATE_INACTIVE: "the task template is not ACTIVE",
}

_PARAM_OF_FIELD = {
    FieldType.NAME: "Name",
    FieldType.DESCRIPTION: "Description",
    FieldType.SCHEDULED_TIME: "ScheduledTime",
    FieldType.QUICK_CONNECT: "QuickConnectId",
    FieldType.EXPIRY_DURATION: "SegmentAttributes",
}
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_COLUMN_OF_PARAM = {param: column for column, param in CONVENTIONAL_PARAMS.items()}
good_keys: set[str] = set()


class Required(NamedTuple):
    """A required field: its name, the top-level parameter it feeds (None: a reference), and
    the ``field`` of the problems that refuse a value given for it (see :func:`refused`)."""

    name: str
    param: str | None
    labels: frozenset[str]


_required_cache: dict[str, tuple[TaskTemplate, tuple[Required, ...]]] = {}


def template_problem(code: Code) -> Problem:
    """The problem for a row whose template cannot be used (unknown, ambiguous, inactive)."""
    return Problem(code, "template", _TEMPLATE_MESSAGES[code])


def required_fields(template: TaskTemplate) -> tuple[Required, ...]:
    """Each required field the file can set, by name."""
    cached = _required_cache.get(template.id)
    if cached is not None and cached[0] is template:
        return cached[1]
    out = []
    for name in sorted(template.required):
        f = template.field_named(name)
        if f is None or f.type is FieldType.SELF_ASSIGN:
            continue  # a constraint on a field the file cannot set: nothing to check
        param = _PARAM_OF_FIELD.get(f.type)
        # A value for it comes from the field's column (or default), or for a parameter also
        # from the conventional column of that parameter (`scheduled_time` for ScheduledTime),
        # unless a field of that name takes the column (see mapping.plan).
        labels = {name, f.name}
        column = _COLUMN_OF_PARAM.get(param or "")
        if column is not None and all(fold(other.name) != column for other in template.fields):
            labels.add(column)
        out.append(Required(name, param, frozenset(labels)))
    if len(_required_cache) > 256:
        _required_cache.clear()
    _required_cache[template.id] = (template, tuple(out))
    return tuple(out)


NO_NAME = Problem(Code.NAME_MISSING, "name", "the task has no name")
AMBIGUOUS_FLOW = Problem(
    Code.AMBIGUOUS_FLOW,
    "contact_flow_id",
    "give either contact_flow_id or quick_connect_id, not both",
)
#: StartTaskContact: "include only one of these parameters: ContactFlowID, QuickConnectID, or
#: TaskTemplateID ... If more than one parameter is specified ... the request returns an error"
#: (API reference, StartTaskContact); a template without a flow takes a flow beside it.
TEMPLATE_HAS_FLOW = Problem(
    Code.AMBIGUOUS_FLOW,
    "contact_flow_id",
    "the template has its own flow: give no contact_flow_id or quick_connect_id with it",
)
NO_FLOW = Problem(
    Code.NO_FLOW,
    "contact_flow_id",
    "no flow: no contact_flow_id or quick_connect_id given, and no template with a flow",
)
IN_PAST = Problem(
    Code.SCHEDULED_TIME_IN_PAST, "scheduled_time", "the scheduled time is in the past"
)


def name_too_long(limits: Limits) -> Problem:
    return Problem(Code.NAME_TOO_LONG, "name", f"longer than {limits.name_max} characters")


def description_too_long(limits: Limits) -> Problem:
    text = f"longer than {limits.description_max} characters"
    return Problem(Code.DESCRIPTION_TOO_LONG, "description", text)


def refused(required: Required, problems: Sequence[Problem]) -> bool:
    """True when one of a row's value ``problems`` (the mapper's) refused a value given for the
    ``required`` field: the field then has a value, an invalid one, and is not also missing."""
    labels = required.labels
    return any(p.field in labels for p in problems)


def required_missing(field_name: str) -> Problem:
    text = "required by the template and has no value or default"
    return Problem(Code.REQUIRED_FIELD_MISSING, field_name, text)


def too_far(limits: Limits) -> Problem:
    text = f"more than {limits.schedule_horizon} ahead"
    return Problem(Code.SCHEDULED_TIME_TOO_FAR, "scheduled_time", text)


def references_too_large(size: int, limits: Limits) -> Problem:
    text = f"references total {size} UTF-8 bytes, over {limits.references_max_bytes}"
    return Problem(Code.REFERENCES_TOO_LARGE, None, text)


def attributes_too_large(size: int, limits: Limits) -> Problem:
    text = f"attributes total {size} UTF-8 bytes, over {limits.attributes_max_bytes}"
    return Problem(Code.ATTRIBUTES_TOO_LARGE, None, text)


def utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def validate(
    request: TaskRequest,
    template: TaskTemplate | None,
    limits: Limits,
    mapped: Sequence[Problem] = (),
) -> list[Problem]:
    """Every request-level problem of a mapped row; ``mapped``: the problems mapping it found
    (a required field whose value they refused is not also reported missing).

    :mod:`taskloader.checks.compiled` compiles these same rules, in this order, for CSV records;
    a change here belongs there too (``tests/input/test_record_check.py`` holds them equal).
    """
    problems: list[Problem] = []
    params = request.params
    if template is not None and not template.active:
        problems.append(template_problem(Code.TEMPLATE_INACTIVE))
    name = params.get("Name")
    if not name:
        problems.append(NO_NAME)
    elif len(name) > limits.name_max:
        problems.append(name_too_long(limits))
    description = params.get("Description")
    if description and len(description) > limits.description_max:
        problems.append(description_too_long(limits))
    flows = ("ContactFlowId" in params) + ("QuickConnectId" in params)
    template_flow = template is not None and bool(template.contact_flow_id)
    if flows > 1:
        problems.append(AMBIGUOUS_FLOW)
    elif flows and template_flow:
        problems.append(TEMPLATE_HAS_FLOW)
    elif flows == 0 and not template_flow:
        problems.append(NO_FLOW)
    refs: dict[str, dict[str, str]] = params.get("References") or {}
    if template is not None and template.required:
        for required in required_fields(template):
            name, param = required.name, required.param
            missing = name not in refs if param is None else param not in params
            if missing and not refused(required, mapped):
                problems.append(required_missing(name))
    if refs:
        size = utf8_len("".join(refs) + "".join([ref["Value"] for ref in refs.values()]))
        if size > limits.references_max_bytes:
            problems.append(references_too_large(size, limits))
    attrs: dict[str, str] | None = params.get("Attributes")
    if attrs:
        check_attributes(attrs, limits, problems)
    when: datetime | None = params.get("ScheduledTime")
    if when is not None:
        now = limits.clock()
        if when < now:
            problems.append(IN_PAST)
        elif when > now + limits.schedule_horizon:
            problems.append(too_far(limits))
    return problems


def check_attributes(attrs: dict[str, str], limits: Limits, problems: list[Problem]) -> None:
    """Attribute keys' charset, then their total size, appended to ``problems``."""
    size = utf8_len("".join(attrs) + "".join(attrs.values()))
    if not good_keys.issuperset(attrs):
        check_attribute_keys(attrs, problems)
    if size > limits.attributes_max_bytes:
        problems.append(attributes_too_large(size, limits))


def check_attribute_keys(attrs: dict[str, str], problems: list[Problem]) -> None:
    for key in attrs:
        if key not in good_keys:
            if _ATTRIBUTE_KEY.fullmatch(key) is None:
                text = "attribute keys may hold only letters, digits, '-' and '_'"
                problems.append(Problem(Code.INVALID_ATTRIBUTE_KEY, f"attr.{key}", text))
            elif len(good_keys) < 10_000:
                good_keys.add(key)


def digest(text: str) -> int:
    if len(text) == 64:  # most keys are sha256 hex already (content keys): take 64 bits of it
        try:
            return int(text[:16], 16)
        except ValueError:
            pass
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


DUPLICATE = Problem(Code.DUPLICATE_KEY, "key", "another row of this file has the same key")


class CrossRowChecks:
    """Checks across the rows of one file: duplicate keys, >12 rows per previous contact.

    Memory is bounded (see :mod:`taskloader.checks.spill`): up to 1M key digests (8 bytes each) and
    100,000 previous-contact counts in memory, the rest in a temporary SQLite file.
    """

    def __init__(
        self,
        previous_contact_max: int = PREVIOUS_CONTACT_MAX,
        *,
        keys: DigestSet | None = None,
        previous: DigestCounter | None = None,
    ) -> None:
        self._keys = keys if keys is not None else DigestSet()
        self._previous = previous if previous is not None else DigestCounter()
        self._previous_max = previous_contact_max
        text = f"more than {previous_contact_max} rows share this previous contact"
        self._too_many = Problem(Code.PREVIOUS_CONTACT_LIMIT, "previous_contact_id", text)

    @property
    def seen(self) -> Callable[[int], bool]:
        """Record a key digest; True if an earlier row had it (compiled checks call this)."""
        return self._keys.add

    @property
    def count_previous(self) -> Callable[[int], int]:
        """Count one more row for a previous-contact digest; the new count."""
        return self._previous.increment

    @property
    def previous_max(self) -> int:
        return self._previous_max

    @property
    def too_many(self) -> Problem:
        return self._too_many

    def check(self, request: TaskRequest) -> list[Problem]:
        problems: list[Problem] = []
        self.check_into(request, problems)
        return problems

    def check_into(self, request: TaskRequest, problems: list[Problem]) -> None:
        """:meth:`check`, appending to ``problems``."""
        previous = request.params.get("PreviousContactId")
        self.check_digest_into(digest(request.key), previous, problems)

    def check_digest_into(
        self, key_digest: int, previous: str | None, problems: list[Problem]
    ) -> None:
        """:meth:`check_into` for a row key already digested."""
        if self._keys.add(key_digest):
            problems.append(DUPLICATE)
        if previous and self._previous.increment(digest(previous)) > self._previous_max:
            problems.append(self._too_many)


def check_row(
    row: Row,
    template: TaskTemplate | Problem | None,
    mapper: Mapper,
    limits: Limits,
    cross: CrossRowChecks | None = None,
) -> Checked:
    """Map and validate one row. ``template`` is the resolved template, None for a row without
    one, or the :func:`template_problem` when resolving it failed."""
    if isinstance(template, Problem):
        request = mapper.map_row(row, None).request
        problems = [Problem(code, None, text) for code, text in row.problems]
        problems.append(template)
    else:
        request, problems = mapper.map_row(row, template)
        if row.problems:
            problems[:0] = [Problem(code, None, text) for code, text in row.problems]
        problems += validate(request, template, limits, problems)
    if cross is not None:
        cross.check_into(request, problems)
    return Checked(request, problems)
