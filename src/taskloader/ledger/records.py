"""The values that go into and come out of the ledger: outcomes, records and the resume bitmap."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskloader.ledger.schema import RowStatus

#: Column order of ``records`` as read by :func:`record_from_row`.
RECORD_COLUMNS = (
    "number, line, key, token, status, contact_id, error_code, error_message, "
    "attempts, first_attempt_at, last_attempt_at, raw"
)


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What the pipeline knows about one input row, written with :meth:`Ledger.record`.

    ``attempts`` counts the API calls made since this row was last recorded (0 for a row that
    was only validated or queued); the ledger adds it to the stored total, so counts survive
    resumes. ``raw`` is the original row in column order; it is stored the first time the row
    is written and never rewritten, so later updates may pass ``None``.
    """

    number: int
    line: int
    key: str | None
    token: str | None
    status: RowStatus
    contact_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    raw: Mapping[str, Any] | None = None

    def params(self) -> tuple[object, ...]:
        return (
            self.number,
            self.line,
            self.key,
            self.token,
            RowStatus(self.status).value,
            self.contact_id,
            self.error_code,
            self.error_message,
            self.attempts,
            _iso(self.first_attempt_at),
            _iso(self.last_attempt_at),
            encode_raw(self.raw),
        )


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One stored row, as read back (times as ISO 8601 strings)."""

    number: int
    line: int
    key: str | None
    token: str | None
    status: RowStatus
    contact_id: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    first_attempt_at: str | None
    last_attempt_at: str | None
    raw: dict[str, Any] | None


def record_from_row(row: tuple[Any, ...]) -> LedgerRecord:
    raw = json.loads(row[11]) if row[11] is not None else None
    return LedgerRecord(
        number=row[0],
        line=row[1],
        key=row[2],
        token=row[3],
        status=RowStatus(row[4]),
        contact_id=row[5],
        error_code=row[6],
        error_message=row[7],
        attempts=row[8],
        first_attempt_at=row[9],
        last_attempt_at=row[10],
        raw=raw,
    )


def encode_raw(raw: Mapping[str, Any] | None) -> str | None:
    if raw is None:
        return None
    text = json.dumps(dict(raw), ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSONL escape: keep it as an escape
        text = json.dumps(dict(raw), separators=(",", ":"), default=str)
    return text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Bitmap:
    """A set of record numbers as one bit each: 1M rows take 125 kB."""

    __slots__ = ("_bits",)

    def __init__(self, size: int = 0) -> None:
        self._bits = bytearray((size >> 3) + 1)

    @classmethod
    def of(cls, numbers: Iterable[int], size: int = 0) -> Bitmap:
        bitmap = cls(size)
        for n in numbers:
            bitmap.add(n)
        return bitmap

    def add(self, number: int) -> None:
        index = number >> 3
        if index >= len(self._bits):
            self._bits.extend(bytes(index + 1 - len(self._bits)))
        self._bits[index] |= 1 << (number & 7)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int) or number < 0:
            return False
        index = number >> 3
        return index < len(self._bits) and bool(self._bits[index] >> (number & 7) & 1)

    def __len__(self) -> int:
        return int.from_bytes(self._bits, "little").bit_count()


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """What a resumed run needs before it reads the input again.

    ``done``: rows to skip (terminal). ``stored``: rows already in the ledger but not terminal;
    they are sent again with their stored token (:meth:`Ledger.tokens_for`). Rows in neither
    were never reached and get a freshly derived token. ``last`` is the highest record number
    the ledger knows.
    """

    done: Bitmap
    stored: Bitmap
    last: int
