"""The values that go into and come out of the ledger: outcomes, records and the resume bitmap."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskloader.ledger.schema import RowStatus

#: Column order of ``records`` as read by :func:`record_from_row`.
RECORD_COLUMNS = (
    "number, line, key, token, status, contact_id, error_code, error_message, "
    "attempts, first_attempt_at, last_attempt_at, raw, ident"
)


def identity(key: str | None, number: int) -> str:
    """A row's identity in the ledger: its key (a row without one: its position)."""
    return key if key is not None else f"#{number}"


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What the pipeline knows about one input row, written with :meth:`Ledger.record`.

    ``attempts`` counts the API calls made since this row was last recorded (0 for a row that
    was only validated or queued); the ledger adds it to the stored total, so counts survive
    resumes. ``raw`` is the original row in column order; it is stored the first time the row
    is written and never rewritten, so later updates may pass ``None``. ``ident`` is the row's
    identity (:func:`identity` of its key when not given).
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
    ident: str | None = None

    def params(self, pass_no: int) -> tuple[object, ...]:
        return (
            self.ident if self.ident is not None else identity(self.key, self.number),
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
            pass_no,
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
    ident: str = ""


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
        ident=row[12],
    )


@dataclass(frozen=True, slots=True)
class Staged:
    """A row as the pre-flight pass found it: ``pending`` (to send) or ``invalid``."""

    ident: str
    number: int
    line: int
    key: str | None
    token: str | None
    status: RowStatus
    error_code: str | None = None
    error_message: str | None = None
    raw: Mapping[str, Any] | None = None

    def params(self, pass_no: int) -> tuple[object, ...]:
        return (
            self.ident,
            self.number,
            self.line,
            self.key,
            self.token,
            RowStatus(self.status).value,
            self.error_code,
            self.error_message,
            encode_raw(self.raw),
            pass_no,
        )


@dataclass(frozen=True, slots=True)
class ToSend:
    """A staged row the send pass takes from the ledger (its row rebuilt from ``raw``)."""

    ident: str
    number: int
    line: int
    key: str | None
    token: str | None
    raw: dict[str, Any]
    #: it was being sent when an earlier run ended (:meth:`Ledger.mark_in_doubt`): its request
    #: may have been carried out
    in_doubt: bool = False


@dataclass(frozen=True, slots=True)
class PassCounts:
    """Rows of the current pass by status, and rows of earlier passes no longer in the input."""

    counts: dict[str, int]
    absent: int
    attempted: int  # rows of this pass that were ever sent (any status)


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
