"""Row validation: request-level rules, cross-row checks, and the per-row entry point.

Value rules (types, formats, options) run while mapping (:mod:`taskloader.rules`); this module
checks the request as a whole against its template and the API's limits, and the file as a whole
(duplicate keys, rows sharing a previous contact). Every problem is reported, not just the first.
"""

from __future__ import annotations

import bisect
import hashlib
import operator
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from taskloader.mapping import Mapper, TaskRequest
from taskloader.rules import (
    ATTRIBUTES_MAX_BYTES,
    PREVIOUS_CONTACT_MAX,
    REFERENCES_MAX_BYTES,
    Code,
    Problem,
    api_limits,
)
from taskloader.source import Row
from taskloader.template import FieldType, TaskTemplate

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


@dataclass(frozen=True, slots=True)
class Checked:
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
_VALUE = operator.itemgetter("Value")
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_good_keys: set[str] = set()
_required_cache: dict[str, tuple[TaskTemplate, tuple[tuple[str, str | None], ...]]] = {}


def template_problem(code: Code) -> Problem:
    """The problem for a row whose template cannot be used (unknown, ambiguous, inactive)."""
    return Problem(code, "template", _TEMPLATE_MESSAGES[code])


def _required(template: TaskTemplate) -> tuple[tuple[str, str | None], ...]:
    """(field name, top-level parameter or None for a reference) of each required field."""
    cached = _required_cache.get(template.id)
    if cached is not None and cached[0] is template:
        return cached[1]
    out = []
    for name in sorted(template.required):
        f = template.field_named(name)
        if f is None or f.type is FieldType.SELF_ASSIGN:
            continue  # a constraint on a field the file cannot set: nothing to check
        out.append((name, _PARAM_OF_FIELD.get(f.type)))
    if len(_required_cache) > 256:
        _required_cache.clear()
    _required_cache[template.id] = (template, tuple(out))
    return tuple(out)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def validate(request: TaskRequest, template: TaskTemplate | None, limits: Limits) -> list[Problem]:
    """Every request-level problem of a mapped row."""
    problems: list[Problem] = []
    params = request.params
    if template is not None and not template.active:
        problems.append(template_problem(Code.TEMPLATE_INACTIVE))
    name = params.get("Name")
    if not name:
        problems.append(Problem(Code.NAME_MISSING, "name", "the task has no name"))
    elif len(name) > limits.name_max:
        text = f"longer than {limits.name_max} characters"
        problems.append(Problem(Code.NAME_TOO_LONG, "name", text))
    description = params.get("Description")
    if description and len(description) > limits.description_max:
        text = f"longer than {limits.description_max} characters"
        problems.append(Problem(Code.DESCRIPTION_TOO_LONG, "description", text))
    flows = ("ContactFlowId" in params) + ("QuickConnectId" in params)
    if flows > 1:
        text = "give either contact_flow_id or quick_connect_id, not both"
        problems.append(Problem(Code.AMBIGUOUS_FLOW, "contact_flow_id", text))
    elif flows == 0 and (template is None or not template.contact_flow_id):
        text = "no flow: the template has none and no contact_flow_id or quick_connect_id given"
        problems.append(Problem(Code.NO_FLOW, "contact_flow_id", text))
    refs: dict[str, dict[str, str]] = params.get("References") or {}
    if template is not None and template.required:
        for field_name, param in _required(template):
            if (param is None and field_name not in refs) or (param and param not in params):
                text = "required by the template and has no value or default"
                problems.append(Problem(Code.REQUIRED_FIELD_MISSING, field_name, text))
    if refs:
        size = _utf8_len("".join(refs)) + _utf8_len("".join(map(_VALUE, refs.values())))
        if size > limits.references_max_bytes:
            text = f"references total {size} UTF-8 bytes, over {limits.references_max_bytes}"
            problems.append(Problem(Code.REFERENCES_TOO_LARGE, None, text))
    attrs: dict[str, str] | None = params.get("Attributes")
    if attrs:
        _check_attributes(attrs, limits, problems)
    when: datetime | None = params.get("ScheduledTime")
    if when is not None:
        now = limits.clock()
        if when < now:
            text = "the scheduled time is in the past"
            problems.append(Problem(Code.SCHEDULED_TIME_IN_PAST, "scheduled_time", text))
        elif when > now + limits.schedule_horizon:
            text = f"more than {limits.schedule_horizon} ahead"
            problems.append(Problem(Code.SCHEDULED_TIME_TOO_FAR, "scheduled_time", text))
    return problems


def _check_attributes(attrs: dict[str, str], limits: Limits, problems: list[Problem]) -> None:
    size = _utf8_len("".join(attrs)) + _utf8_len("".join(attrs.values()))
    for key in attrs:
        if key not in _good_keys:
            if _ATTRIBUTE_KEY.fullmatch(key) is None:
                text = "attribute keys may hold only letters, digits, '-' and '_'"
                problems.append(Problem(Code.INVALID_ATTRIBUTE_KEY, f"attr.{key}", text))
            elif len(_good_keys) < 10_000:
                _good_keys.add(key)
    if size > limits.attributes_max_bytes:
        text = f"attributes total {size} UTF-8 bytes, over {limits.attributes_max_bytes}"
        problems.append(Problem(Code.ATTRIBUTES_TOO_LARGE, None, text))


def _digest(text: str) -> int:
    if len(text) == 64:  # most keys are sha256 hex already (content keys): take 64 bits of it
        try:
            return int(text[:16], 16)
        except ValueError:
            pass
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


class _DigestSet:
    """A set of 64-bit digests in ~8 bytes each: sorted ``array`` runs behind a Bloom filter.

    Recent digests sit in a small Python set; every ``_CHUNK`` of them becomes one sorted run.
    The Bloom filter (8 MiB, two probes) keeps run look-ups to the few rows it cannot rule out.
    """

    _CHUNK = 1 << 17
    _BITS = 1 << 26

    def __init__(self) -> None:
        self._bloom = bytearray(self._BITS >> 3)
        self._recent: set[int] = set()
        self._runs: list[array[int]] = []

    def __len__(self) -> int:
        return len(self._recent) + sum(len(run) for run in self._runs)

    def add(self, digest: int) -> bool:
        """Add ``digest``; True if it was already there."""
        mask = self._BITS - 1
        a = digest & mask
        b = (digest >> 32) & mask
        bloom = self._bloom
        if bloom[a >> 3] & (1 << (a & 7)) and bloom[b >> 3] & (1 << (b & 7)):
            if digest in self._recent or self._in_runs(digest):
                return True
        else:
            bloom[a >> 3] |= 1 << (a & 7)
            bloom[b >> 3] |= 1 << (b & 7)
        recent = self._recent
        recent.add(digest)
        if len(recent) >= self._CHUNK:
            self._runs.append(array("Q", sorted(recent)))
            self._recent = set()
        return False

    def _in_runs(self, digest: int) -> bool:
        for run in self._runs:
            i = bisect.bisect_left(run, digest)
            if i < len(run) and run[i] == digest:
                return True
        return False


class CrossRowChecks:
    """Checks across the rows of one file: duplicate keys, >12 rows per previous contact.

    Memory: about 8 bytes per distinct key plus a fixed 8 MiB; one small dict entry per distinct
    previous contact id.
    """

    def __init__(self, previous_contact_max: int = PREVIOUS_CONTACT_MAX) -> None:
        self._keys = _DigestSet()
        self._previous: dict[int, int] = {}
        self._previous_max = previous_contact_max

    def check(self, request: TaskRequest) -> list[Problem]:
        problems: list[Problem] = []
        if self._keys.add(_digest(request.key)):
            text = "another row of this file has the same key"
            problems.append(Problem(Code.DUPLICATE_KEY, "key", text))
        previous = request.params.get("PreviousContactId")
        if previous:
            digest = _digest(previous)
            count = self._previous.get(digest, 0) + 1
            self._previous[digest] = count
            if count > self._previous_max:
                text = f"more than {self._previous_max} rows share this previous contact"
                problems.append(Problem(Code.PREVIOUS_CONTACT_LIMIT, "previous_contact_id", text))
        return problems


def check_row(
    row: Row,
    template: TaskTemplate | Problem | None,
    mapper: Mapper,
    limits: Limits,
    cross: CrossRowChecks | None = None,
) -> Checked:
    """Map and validate one row. ``template`` is the resolved template, None for a row without
    one, or the :func:`template_problem` when resolving it failed."""
    problems: list[Problem] = [Problem(code, None, text) for code, text in row.problems]
    if isinstance(template, Problem):
        mapped = mapper.map_row(row, None)
        problems.append(template)
    else:
        mapped = mapper.map_row(row, template)
        problems += mapped.problems
        problems += validate(mapped.request, template, limits)
    if cross is not None:
        problems += cross.check(mapped.request)
    return Checked(mapped.request, problems)
