"""Checks of task references and attributes against Connect's rules and a template's fields.

Pure functions: each returns ``None`` when the value is fine, or a message saying what is wrong
(without echoing the value, which may be personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from taskloader.mapping.formats import is_number

#: Reference types StartTaskContact accepts at creation.
CREATABLE_REFERENCE_TYPES = frozenset({"URL", "NUMBER", "STRING", "DATE", "EMAIL"})

#: Template field type -> the Reference type a value for it must have.
FIELD_REFERENCE_TYPE: Mapping[str, str] = {
    "TEXT": "STRING",
    "TEXT_AREA": "STRING",
    "BOOLEAN": "STRING",
    "SINGLE_SELECT": "STRING",
    "NUMBER": "NUMBER",
    "DATE_TIME": "DATE",
    "URL": "URL",
    "EMAIL": "EMAIL",
}

#: Template field types that map to a top-level StartTaskContact member, not a Reference.
FIELD_MEMBER: Mapping[str, str] = {
    "NAME": "Name",
    "DESCRIPTION": "Description",
    "SCHEDULED_TIME": "ScheduledTime",
    "QUICK_CONNECT": "QuickConnectId",
}

MAX_REFERENCES_BYTES = 4096
MAX_ATTRIBUTES_BYTES = 32768
TEXT_MAX_CHARS = 511  # "fewer than 512 characters"
TEXT_AREA_MAX_CHARS = 4095  # "fewer than 4,096 characters"

_EPOCH = re.compile(r"\d{1,13}\Z")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+\Z")
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def check_reference_value(ref_type: str, value: str) -> str | None:
    """The format rule of a reference type (NUMBER, DATE, URL, EMAIL; STRING is free)."""
    if ref_type == "NUMBER" and not is_number(value):  # the rule taskloader validate applies
        return "must be a number"
    if ref_type == "DATE" and not _EPOCH.match(value):
        return "must be an epoch timestamp"
    if ref_type == "URL":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "must be an http(s) URL"
    if ref_type == "EMAIL" and not _EMAIL.match(value):
        return "must be an email address"
    return None


def check_field_value(field: Mapping[str, Any], value: str) -> str | None:
    """The rule a template field type adds on top of its reference type."""
    field_type = field.get("Type")
    if field_type == "TEXT" and len(value) > TEXT_MAX_CHARS:
        return f"must be fewer than {TEXT_MAX_CHARS + 1} characters for a TEXT field"
    if field_type == "TEXT_AREA" and len(value) > TEXT_AREA_MAX_CHARS:
        return f"must be fewer than {TEXT_AREA_MAX_CHARS + 1} characters for a TEXT_AREA field"
    if field_type == "BOOLEAN" and value not in ("true", "false"):
        return "must be 'true' or 'false' for a BOOLEAN field"
    if field_type == "SINGLE_SELECT" and value not in (field.get("SingleSelectOptions") or ()):
        return "must be one of the field's SingleSelectOptions"
    return None


def references_size(references: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(
        len(k.encode()) + len(str(r.get("Value") or "").encode()) for k, r in references.items()
    )


def check_attributes(attributes: Mapping[str, str]) -> str | None:
    total = 0
    for key, value in attributes.items():
        if not _ATTRIBUTE_KEY.match(key):
            return "Attributes keys may contain only letters, digits, '-' and '_'"
        total += len(key.encode()) + len(value.encode())
    if total > MAX_ATTRIBUTES_BYTES:
        return f"Attributes must not exceed {MAX_ATTRIBUTES_BYTES} UTF-8 bytes in total"
    return None


def check_segment_attributes(segment: Mapping[str, Any]) -> str | None:
    """``connect:ContactExpiry`` must carry ExpiryDuration minutes in 1..129,600."""
    expiry = segment.get("connect:ContactExpiry")
    if expiry is None:
        return None
    duration = ((expiry.get("ValueMap") or {}).get("ExpiryDuration") or {}).get("ValueInteger")
    if not isinstance(duration, int) or not 1 <= duration <= 129_600:
        return (
            "SegmentAttributes.connect:ContactExpiry needs ValueMap.ExpiryDuration.ValueInteger "
            "in minutes, 1 to 129600"
        )
    return None


def expiry_seconds(segment: Mapping[str, Any]) -> float | None:
    """A checked ``connect:ContactExpiry``'s duration in seconds (None when absent)."""
    expiry = segment.get("connect:ContactExpiry")
    if expiry is None:
        return None
    return 60.0 * float(expiry["ValueMap"]["ExpiryDuration"]["ValueInteger"])
