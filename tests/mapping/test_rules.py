"""Value rules per template field type, at their boundaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskloader.mapping.rules import (
    BadValue,
    Code,
    api_limits,
    expiry_minutes,
    rule_for,
    scalar_text,
)
from taskloader.mapping.times import time_parser
from taskloader.templates.model import FieldType

OK = None


@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        (FieldType.TEXT, "x" * 511, "x" * 511),
        (FieldType.TEXT, "x" * 512, Code.TEXT_TOO_LONG),
        (FieldType.TEXT_AREA, "x" * 4095, "x" * 4095),
        (FieldType.TEXT_AREA, "x" * 4096, Code.TEXT_TOO_LONG),
        (FieldType.NUMBER, "42", "42"),
        (FieldType.NUMBER, " -3.50 ", "-3.50"),
        (FieldType.NUMBER, "1e3", "1e3"),
        # one rule with the emulator (mapping/formats.py): a finite JSON number
        (FieldType.NUMBER, ".5", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "+5", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "1.", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "1e400", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "007", Code.INVALID_NUMBER),
        (FieldType.NUMBER, " -0.5e-3 ", "-0.5e-3"),
        (FieldType.NUMBER, "1,000", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "nan", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "inf", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "12abc", Code.INVALID_NUMBER),
        (FieldType.NUMBER, "=1+1", Code.INVALID_NUMBER),
        (FieldType.BOOLEAN, "true", "true"),
        (FieldType.BOOLEAN, "FALSE", "false"),
        (FieldType.BOOLEAN, " True ", "true"),
        (FieldType.BOOLEAN, "yes", Code.INVALID_BOOLEAN),
        (FieldType.BOOLEAN, "1", Code.INVALID_BOOLEAN),
        (FieldType.EMAIL, "a@example.com", "a@example.com"),
        (FieldType.EMAIL, "a@b", Code.INVALID_EMAIL),
        (FieldType.EMAIL, "a b@example.com", Code.INVALID_EMAIL),
        (FieldType.EMAIL, "a@@example.com", Code.INVALID_EMAIL),
        (FieldType.EMAIL, "a@" + "x" * 248 + ".com", "a@" + "x" * 248 + ".com"),
        (FieldType.EMAIL, "a@" + "x" * 249 + ".com", Code.INVALID_EMAIL),
        (FieldType.URL, "https://example.com/a?b=c", "https://example.com/a?b=c"),
        (FieldType.URL, "HTTP://example.com", "HTTP://example.com"),
        (FieldType.URL, "ftp://example.com", Code.INVALID_URL),
        (FieldType.URL, "https://", Code.INVALID_URL),
        (FieldType.URL, "https://exa mple.com", Code.INVALID_URL),
        (FieldType.DATE_TIME, "2030-01-02T03:04:05Z", "1893553445"),
        (FieldType.DATE_TIME, "2030-01-02T04:04:05+01:00", "1893553445"),
        (FieldType.DATE_TIME, "1893553445", "1893553445"),
        (FieldType.DATE_TIME, "2030-01-02T03:04:05", Code.INVALID_DATE_TIME),
        (FieldType.DATE_TIME, "tomorrow", Code.INVALID_DATE_TIME),
        (FieldType.DATE_TIME, "1893553445000000", Code.INVALID_DATE_TIME),
    ],
)
def test_value_rule(field_type: FieldType, value: str, expected: str) -> None:
    if field_type is FieldType.DATE_TIME:
        rule = time_parser().epoch_seconds
    else:
        rule = rule_for(field_type)
    if isinstance(expected, Code):
        with pytest.raises(BadValue) as caught:
            rule(value)
        assert caught.value.code == expected
        assert value.strip() not in caught.value.message or not value.strip()
    else:
        assert rule(value) == expected


def test_single_select_accepts_only_its_options_exactly() -> None:
    rule = rule_for(FieldType.SINGLE_SELECT, ("Low", "High"))
    assert rule("High") == "High"
    for bad in ("high", "Medium", ""):
        with pytest.raises(BadValue) as caught:
            rule(bad)
        assert caught.value.code == Code.INVALID_OPTION


def test_parse_time_gives_aware_datetimes() -> None:
    parse_time = time_parser().parse
    assert parse_time("0") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_time("2030-01-01T00:00:00+02:00").utcoffset() is not None


@pytest.mark.parametrize(("value", "minutes"), [("1", 1), ("129600", 129_600), (" 60 ", 60)])
def test_expiry_minutes_in_range(value: str, minutes: int) -> None:
    assert expiry_minutes(value) == minutes


@pytest.mark.parametrize("value", ["0", "129601", "-5", "1.5", "soon"])
def test_expiry_minutes_out_of_range(value: str) -> None:
    with pytest.raises(BadValue) as caught:
        expiry_minutes(value)
    assert caught.value.code == Code.INVALID_EXPIRY


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), (None, None)]
)
def test_json_scalars_become_text(value: object, text: str | None) -> None:
    assert scalar_text(value) == text


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
def test_json_objects_and_lists_are_refused(value: object) -> None:
    with pytest.raises(BadValue) as caught:
        scalar_text(value)
    assert caught.value.code == Code.INVALID_VALUE


def test_api_limits_come_from_the_botocore_model() -> None:
    limits = api_limits()
    assert limits.name_max == 1024
    assert limits.description_max == 4096
    assert limits.param_max["PreviousContactId"] == 256
    assert limits.reference_value_max == 4096
