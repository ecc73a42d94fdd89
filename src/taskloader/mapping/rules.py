"""Problem codes and the per-value rules: a cell in, the value StartTaskContact expects out.

A rule returns the wire value or raises :class:`BadValue` with a stable code and a message.
Messages say which rule failed, never what the value was (rows may hold personal data).

Decisions where the API documentation is silent:
- NUMBER: :func:`taskloader.mapping.formats.is_number`, the rule the emulator applies too (a
  JSON number, finite as a double: ``-12``, ``3.5``, ``1e3``; not ``+5``, ``.5``, ``1e400``),
  surrounding blanks dropped. Epoch seconds and expiry minutes are ASCII digits.
- BOOLEAN: ``true``/``false`` in any letter case, sent in lower case.
- DATE_TIME and scheduled times: see :mod:`taskloader.mapping.times`. DATE_TIME references are
  sent as integer epoch seconds.
- EMAIL: one ``@``, no blanks, a dot in the domain, at most 254 characters.
- URL: ``http://`` or ``https://`` followed by a host, no blanks.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from taskloader.mapping.formats import is_number
from taskloader.templates.model import FieldType

_T = TypeVar("_T")


class Code(enum.StrEnum):
    """Every stable, machine-readable problem code."""

    RAGGED_ROW = "ragged_row"
    INVALID_TEXT = "invalid_text"
    UNKNOWN_COLUMN = "unknown_column"
    INVALID_VALUE = "invalid_value"
    UNSUPPORTED_FIELD = "unsupported_field"
    REQUIRED_FIELD_MISSING = "required_field_missing"
    INVALID_NUMBER = "invalid_number"
    INVALID_DATE_TIME = "invalid_date_time"
    INVALID_BOOLEAN = "invalid_boolean"
    INVALID_EMAIL = "invalid_email"
    INVALID_URL = "invalid_url"
    INVALID_OPTION = "invalid_option"
    TEXT_TOO_LONG = "text_too_long"
    NAME_MISSING = "name_missing"
    NAME_TOO_LONG = "name_too_long"
    DESCRIPTION_TOO_LONG = "description_too_long"
    VALUE_TOO_LONG = "value_too_long"
    NO_FLOW = "no_flow"
    AMBIGUOUS_FLOW = "ambiguous_flow"
    AMBIGUOUS_FIELD = "ambiguous_field"
    TEMPLATE_INACTIVE = "template_inactive"
    UNKNOWN_TEMPLATE = "unknown_template"
    AMBIGUOUS_TEMPLATE = "ambiguous_template"
    REFERENCES_TOO_LARGE = "references_too_large"
    INVALID_REFERENCE_KEY = "invalid_reference_key"
    ATTRIBUTES_TOO_LARGE = "attributes_too_large"
    INVALID_ATTRIBUTE_KEY = "invalid_attribute_key"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_SCHEDULED_TIME = "invalid_scheduled_time"
    SCHEDULED_TIME_IN_PAST = "scheduled_time_in_past"
    SCHEDULED_TIME_TOO_FAR = "scheduled_time_too_far"
    PREVIOUS_CONTACT_LIMIT = "previous_contact_limit"
    DUPLICATE_KEY = "duplicate_key"
    OTHER_BATCH = "other_batch"
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    INVALID_ATTACHMENT_NAME = "invalid_attachment_name"
    INVALID_ATTACHMENT_URL = "invalid_attachment_url"
    ATTACHMENT_NOT_FOUND = "attachment_not_found"
    ATTACHMENT_UNREADABLE = "attachment_unreadable"


@dataclass(frozen=True, slots=True)
class Problem:
    """One row-level problem: a stable code, the field (or column) it concerns, and why."""

    code: str
    field: str | None
    message: str


class BadValue(ValueError):
    """A value broke a rule; the mapper turns it into a :class:`Problem` for its field."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """StartTaskContact length limits, read from botocore's Connect model."""

    name_max: int
    description_max: int
    reference_value_max: int
    attribute_value_max: int
    param_max: Mapping[str, int]  # every StartTaskContact string member with a max length


@functools.cache
def api_limits() -> ApiLimits:
    from botocore.loaders import Loader

    model = Loader().load_service_model("connect", "service-2")
    shapes = model["shapes"]
    members = shapes[model["operations"]["StartTaskContact"]["input"]["shape"]]["members"]

    def max_of(shape: str) -> int:
        return int(shapes[shape]["max"])

    param_max = {
        name: int(shapes[m["shape"]]["max"])
        for name, m in members.items()
        if shapes[m["shape"]].get("type") == "string" and "max" in shapes[m["shape"]]
    }
    return ApiLimits(
        param_max=param_max,
        name_max=max_of(members["Name"]["shape"]),
        description_max=max_of(members["Description"]["shape"]),
        reference_value_max=max_of("ReferenceValue"),
        attribute_value_max=max_of("AttributeValue"),
    )


#: Documented limits that the model does not carry as numbers.
TEXT_MAX = 511  # TEXT fields: fewer than 512 characters
TEXT_AREA_MAX = 4095  # TEXT_AREA fields: fewer than 4,096 characters
REFERENCES_MAX_BYTES = 4096
ATTRIBUTES_MAX_BYTES = 32768
EXPIRY_MAX_MINUTES = 129_600  # 90 days
PREVIOUS_CONTACT_MAX = 12

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)


def memo(size: int) -> Callable[[Callable[[str], _T]], Callable[[str], _T]]:
    """Memoise a rule of one string in a dict emptied when it holds ``size`` results; refusals
    (exceptions) are not kept. Files repeat the same timestamps a lot, but a file of distinct
    ones must not pay much for trying: a miss costs a look-up and a store, less than
    ``lru_cache``'s bookkeeping, and what the memo holds is freed in one go, not one entry at a
    time among the rows being read (which scatters the heap and slows everything after).
    """

    def decorate(rule: Callable[[str], _T]) -> Callable[[str], _T]:
        memo: dict[str, _T] = {}

        @functools.wraps(rule)
        def memoised(value: str) -> _T:
            found = memo.get(value)
            if found is None:
                found = rule(value)
                if len(memo) >= size:
                    memo.clear()
                memo[value] = found
            return found

        return memoised

    return decorate


def scalar_text(value: Any) -> str | None:
    """A JSON value as the text the rules check; None for null. Objects and lists are refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise BadValue(Code.INVALID_VALUE, "expected text, a number or a boolean")


OPTION_MESSAGE = "not one of the field's options"


@dataclass(frozen=True, slots=True)
class LengthRule:
    """At most ``limit`` characters (the compiled mapper inlines this check)."""

    limit: int
    code: Code
    message: str

    def __call__(self, value: str) -> str:
        if len(value) > self.limit:
            raise BadValue(self.code, self.message)
        return value


@dataclass(frozen=True, slots=True)
class OptionRule:
    """One of a SINGLE_SELECT field's options, exactly (the compiled mapper inlines this check)."""

    allowed: frozenset[str]

    def __call__(self, value: str) -> str:
        if value not in self.allowed:
            raise BadValue(Code.INVALID_OPTION, OPTION_MESSAGE)
        return value


@dataclass(frozen=True, slots=True)
class PatternRule:
    """Matches ``pattern`` whole (after dropping surrounding blanks if ``strip``), and is at most
    ``limit`` characters; the value sent is the text matched. The compiled mapper inlines this."""

    pattern: re.Pattern[str]
    code: Code
    message: str
    strip: bool = False
    limit: int | None = None

    def __call__(self, value: str) -> str:
        text = value.strip() if self.strip else value
        if (self.limit is not None and len(text) > self.limit) or not self.pattern.fullmatch(text):
            raise BadValue(self.code, self.message)
        return text


_text = LengthRule(
    TEXT_MAX, Code.TEXT_TOO_LONG, f"TEXT field must be under {TEXT_MAX + 1} characters"
)
_text_area = LengthRule(
    TEXT_AREA_MAX,
    Code.TEXT_TOO_LONG,
    f"TEXT_AREA field must be under {TEXT_AREA_MAX + 1} characters",
)


def _number(value: str) -> str:
    text = value.strip()
    if not is_number(text):
        raise BadValue(Code.INVALID_NUMBER, "expected a number")
    return text


def _boolean(value: str) -> str:
    text = value.strip().lower()
    if text != "true" and text != "false":
        raise BadValue(Code.INVALID_BOOLEAN, "expected true or false")
    return text


_email = PatternRule(_EMAIL, Code.INVALID_EMAIL, "expected an email address", limit=254)
_url = PatternRule(_URL, Code.INVALID_URL, "expected an http(s) URL")


def _one_of(options: tuple[str, ...]) -> Callable[[str], str]:
    return OptionRule(frozenset(options))


_RULES: dict[FieldType, Callable[[str], str]] = {
    FieldType.TEXT: _text,
    FieldType.TEXT_AREA: _text_area,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.EMAIL: _email,
    FieldType.URL: _url,
}


def rule_for(field_type: FieldType, options: tuple[str, ...] = ()) -> Callable[[str], str]:
    """The value rule of a template field type that becomes a Reference (DATE_TIME: see
    :class:`taskloader.mapping.times.TimeParser`)."""
    if field_type is FieldType.SINGLE_SELECT:
        return _one_of(options)
    return _RULES[field_type]


@memo(64)
def expiry_minutes(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= EXPIRY_MAX_MINUTES:
        raise BadValue(
            Code.INVALID_EXPIRY, f"expected whole minutes from 1 to {EXPIRY_MAX_MINUTES}"
        )
    return int(text)
