"""Date-times as files hold them -> aware datetimes.

Accepted, in this order:

- epoch seconds (``1893553445``, ``1893553445.5``) and epoch milliseconds (a whole number of
  12 digits or more: ``1893553445000``; as seconds that would be after the year 5000);
- ISO 8601, with ``T`` or a blank between date and time (``2026-12-31T17:00:00+01:00``,
  ``2026-12-31 17:00Z``, ``2026-12-31 17:00``, ``2026-12-31``);
- the ``--date-format``: a pattern of ``YYYY MM DD`` for the date and ``HH`` (24 h) or ``h``
  (12 h) ``mm ss`` and ``AM/PM`` for the time (``MM/DD/YYYY h:mm AM/PM``, ``DD/MM/YYYY``), or a
  :func:`~datetime.datetime.strptime` pattern with ``%``. A pattern's date alone is accepted too,
  and a date-only pattern also takes ``HH:mm`` and ``HH:mm:ss`` after the date.

A value without a UTC offset is a time in ``--timezone`` (an IANA name); without one it is
refused. A date without a time means the start of that day (00:00) in ``--timezone``. Where a
local time occurs twice (the hour the clocks go back), the first is meant.

Slash dates are never guessed: ``01/02/2026`` is the 2nd of January or the 1st of February
only by the ``--date-format``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from taskloader.mapping.rules import BadValue, Code, memo

_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: Milliseconds from this many (as seconds: the year 5138).
_MILLIS_FROM = 10**11

_TOKENS = re.compile(r"YYYY|YY|MM|M|DD|D|HH|H|hh|h|mm|ss|AM/PM|am/pm|A|a|tt")
_STRPTIME = {
    "YYYY": "%Y",
    "YY": "%y",
    "MM": "%m",
    "M": "%m",
    "DD": "%d",
    "D": "%d",
    "HH": "%H",
    "H": "%H",
    "hh": "%I",
    "h": "%I",
    "mm": "%M",
    "ss": "%S",
    "AM/PM": "%p",
    "am/pm": "%p",
    "A": "%p",
    "a": "%p",
    "tt": "%p",
}
_TIME_CODES = ("%H", "%I", "%M", "%S", "%p")


def strptime_pattern(date_format: str) -> str:
    """``MM/DD/YYYY h:mm AM/PM`` -> ``%m/%d/%Y %I:%M %p``; a pattern with ``%`` as it is."""
    if "%" in date_format:
        return date_format
    return _TOKENS.sub(lambda m: _STRPTIME[m.group()], date_format)


def _patterns(date_format: str | None) -> tuple[tuple[str, bool], ...]:
    """(strptime pattern, date only) to try, in order."""
    if not date_format:
        return ()
    full = strptime_pattern(date_format)
    date_part, _, time_part = full.partition(" ")
    if any(code in date_part for code in _TIME_CODES):  # no date before a blank: take it whole
        return ((full, not any(code in full for code in _TIME_CODES)),)
    if time_part:
        return ((full, False), (date_part, True))
    return ((full, True), (full + " %H:%M", False), (full + " %H:%M:%S", False))


def check_date_format(date_format: str) -> None:
    """ValueError when ``date_format`` cannot be a pattern of dates."""
    pattern = strptime_pattern(date_format)
    if not any(code in pattern for code in ("%d", "%j")) or "%" not in pattern:
        raise ValueError(f"date format {date_format!r} has no day (use YYYY, MM and DD)")
    try:
        datetime(2026, 12, 31, 17, 5, 9).strftime(pattern)
    except ValueError as exc:
        raise ValueError(f"date format {date_format!r}: {exc}") from None


class TimeParser:
    """Parses date-times by the rules above for one ``--timezone`` and ``--date-format``."""

    def __init__(self, timezone: str | None = None, date_format: str | None = None) -> None:
        self._zone: tzinfo | None = ZoneInfo(timezone) if timezone else None
        self._patterns = _patterns(date_format)
        expected = "ISO 8601 (2026-12-31T17:00:00+01:00), epoch seconds or milliseconds"
        if date_format:
            expected += f", or {date_format}"
        self._expected = f"expected {expected}"
        #: the value as an aware datetime (ScheduledTime)
        self.parse: Callable[[str], datetime] = memo(64)(self._parse)
        #: the value as whole epoch seconds, as DATE_TIME references are sent
        self.epoch_seconds: Callable[[str], str] = memo(64)(self._epoch_seconds)

    def _epoch_seconds(self, value: str) -> str:
        return str(int(self._parse(value).timestamp()))

    def _parse(self, value: str) -> datetime:
        text = value.strip()
        parsed, date_only = self._read(text)
        if parsed.tzinfo is not None:
            return parsed
        if self._zone is None:
            if date_only:
                raise BadValue(
                    Code.INVALID_DATE_TIME,
                    "a date without a time: set --timezone to read it as 00:00 that day there, "
                    "or give a time with a UTC offset",
                )
            raise BadValue(
                Code.INVALID_DATE_TIME,
                "date-time has no UTC offset: add one (Z, +01:00) or set --timezone",
            )
        return parsed.replace(tzinfo=self._zone)

    def _read(self, text: str) -> tuple[datetime, bool]:
        """(the datetime, naive or aware; whether the text was a date alone)."""
        try:
            if _EPOCH.fullmatch(text):
                if text.lstrip("+-").isdigit() and abs(int(text)) >= _MILLIS_FROM:
                    return datetime.fromtimestamp(int(text) / 1000, UTC), False
                return datetime.fromtimestamp(float(text), UTC), False
            return datetime.fromisoformat(text), _DATE_ONLY.fullmatch(text) is not None
        except (ValueError, OverflowError, OSError):
            pass
        for pattern, date_only in self._patterns:
            try:
                return datetime.strptime(text, pattern), date_only
            except ValueError:
                continue
        hint = ""
        if "/" in text and not self._patterns:
            hint = "; dates with slashes need --date-format (MM/DD/YYYY or DD/MM/YYYY)"
        raise BadValue(Code.INVALID_DATE_TIME, self._expected + hint) from None


@functools.cache
def time_parser(timezone: str | None = None, date_format: str | None = None) -> TimeParser:
    """The parser of one (timezone, date format), shared by every plan that uses them."""
    return TimeParser(timezone, date_format)
