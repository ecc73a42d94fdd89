"""Date-times as exports write them: epoch seconds and milliseconds, ISO with or without T or
offset, --date-format patterns, --timezone for local times, and date-only values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskloader.mapping.rules import BadValue, Code
from taskloader.mapping.times import TimeParser, check_date_format, strptime_pattern


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "timezone", "date_format", "expected"),
    [
        ("1798736400", None, None, utc(2026, 12, 31, 17)),  # epoch seconds
        ("1798736400000", None, None, utc(2026, 12, 31, 17)),  # epoch milliseconds
        ("1798736400.5", None, None, utc(2026, 12, 31, 17, 0, 0, 500000)),
        ("2026-12-31T17:00:00Z", None, None, utc(2026, 12, 31, 17)),
        ("2026-12-31 18:00+01:00", None, None, utc(2026, 12, 31, 17)),
        ("2026-12-31 17:00", "Europe/Paris", None, utc(2026, 12, 31, 16)),
        ("2026-07-01T17:00", "Europe/Paris", None, utc(2026, 7, 1, 15)),  # summer time
        ("2026-12-31", "America/New_York", None, utc(2026, 12, 31, 5)),  # 00:00 that day
        ("2026-12-31T17:00:00Z", "Asia/Tokyo", None, utc(2026, 12, 31, 17)),  # offset wins
        ("12/31/2026 5:00 PM", "America/New_York", "MM/DD/YYYY h:mm AM/PM", utc(2026, 12, 31, 22)),
        ("1/2/2027 9:30 am", "UTC", "MM/DD/YYYY h:mm AM/PM", utc(2027, 1, 2, 9, 30)),
        ("12/31/2026", "UTC", "MM/DD/YYYY h:mm AM/PM", utc(2026, 12, 31)),  # its date alone
        ("31/12/2026", "Europe/Berlin", "DD/MM/YYYY", utc(2026, 12, 30, 23)),
        ("31/12/2026 17:30", "Europe/Berlin", "DD/MM/YYYY", utc(2026, 12, 31, 16, 30)),
        ("31.12.2026 17:30", "UTC", "%d.%m.%Y %H:%M", utc(2026, 12, 31, 17, 30)),
        ("2026-12-31T17:00Z", None, "DD/MM/YYYY", utc(2026, 12, 31, 17)),  # ISO still read
    ],
)
def test_accepted_date_times(
    value: str, timezone: str | None, date_format: str | None, expected: datetime
) -> None:
    assert TimeParser(timezone, date_format).parse(value) == expected


@pytest.mark.parametrize(
    ("value", "timezone", "date_format", "words"),
    [
        ("2026-12-31 17:00", None, None, "--timezone"),
        ("2026-12-31", None, None, "a date without a time"),
        ("12/31/2026 5:00 PM", "UTC", None, "--date-format"),
        ("31/12/2026", "UTC", "MM/DD/YYYY", "MM/DD/YYYY"),  # month 31
        ("tomorrow", "UTC", None, "ISO 8601"),
        ("1893553445000000", None, None, "epoch"),  # microseconds: out of range
    ],
)
def test_refused_date_times_say_what_is_expected(
    value: str, timezone: str | None, date_format: str | None, words: str
) -> None:
    with pytest.raises(BadValue) as caught:
        TimeParser(timezone, date_format).parse(value)
    assert caught.value.code == Code.INVALID_DATE_TIME
    assert words in caught.value.message
    assert value not in caught.value.message


def test_epoch_seconds_rule_sends_whole_seconds() -> None:
    assert TimeParser("Europe/Paris").epoch_seconds("2026-12-31 17:00") == "1798732800"


@pytest.mark.parametrize(
    ("given", "pattern"),
    [
        ("MM/DD/YYYY h:mm AM/PM", "%m/%d/%Y %I:%M %p"),
        ("DD/MM/YYYY HH:mm:ss", "%d/%m/%Y %H:%M:%S"),
        ("%d.%m.%Y", "%d.%m.%Y"),
    ],
)
def test_friendly_patterns_become_strptime_patterns(given: str, pattern: str) -> None:
    assert strptime_pattern(given) == pattern


@pytest.mark.parametrize("bad", ["HH:mm", "hello", "%Q"])
def test_a_date_format_without_a_day_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="date format"):
        check_date_format(bad)
