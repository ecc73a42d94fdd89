"""The one shape of row outcomes: result files, ``validate --report`` and ``ledger export``.

A row's outcome is written as the row's own columns, then its place in the input (``row``: the
row number, ``line``: the physical line it starts on), then the outcome under the
``taskloader.`` prefix, which no input column of a template or the conventional contract uses:

    <input columns...>, row, line, taskloader.status, taskloader.error_code,
    taskloader.message, taskloader.contact_id, taskloader.attempts, taskloader.batch_id

``taskloader.error_code`` holds the row's problem codes (several ``; ``-joined) and
``taskloader.message`` says what is wrong in words, each problem as ``<field>: <message>``,
``; ``-joined. When the input itself has a ``row`` or ``line`` column, the place is written as
``taskloader.row`` / ``taskloader.line`` instead, so no header repeats.

A result file fed back in (the fix path: correct ``invalid.csv``, run it) is read like its
input: the mapper ignores these columns (:func:`result_columns`), and a result file written from
it does not repeat them. ``taskloader.batch_id`` (empty for a dry run's report) names the batch
the row belongs to: a result file fed back is imported in that batch, with the same ClientTokens,
so its rows and the original import's can never make a task twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from taskloader.input.readers import fold

__all__ = [
    "BATCH_FIELD",
    "OUTCOME_FIELDS",
    "PREFIX",
    "Outcome",
    "input_columns",
    "outcome_header",
    "position_columns",
    "problems_from_text",
    "result_columns",
]

PREFIX = "taskloader."
OUTCOME_FIELDS = tuple(
    PREFIX + name
    for name in ("status", "error_code", "message", "contact_id", "attempts", "batch_id")
)
#: The column naming the batch of a result file's rows.
BATCH_FIELD = PREFIX + "batch_id"
_POSITION = ("row", "line")


def result_columns(columns: Iterable[str]) -> tuple[str, ...]:
    """The columns of ``columns`` that an earlier result file added (none for an ordinary input).

    A header holding a ``taskloader.``-prefixed column is a result file's: those columns are
    outcome columns, and so are ``row`` and ``line`` unless it also has ``taskloader.row`` /
    ``taskloader.line`` (then ``row``/``line`` were the input's own columns).
    """
    columns = list(columns)
    folded = [fold(c) for c in columns]
    if not any(f.startswith(PREFIX) for f in folded):
        return ()
    found = []
    for column, name in zip(columns, folded, strict=True):
        if name.startswith(PREFIX) or (name in _POSITION and PREFIX + name not in folded):
            found.append(column)
    return tuple(found)


def input_columns(columns: Iterable[str]) -> list[str]:
    """``columns`` without those an earlier result file added."""
    columns = list(columns)
    added = set(result_columns(columns))
    return [c for c in columns if c not in added]


def position_columns(columns: Sequence[str]) -> tuple[str, str]:
    """The names of the row number and line columns next to input ``columns``."""
    folded = {fold(c) for c in columns}
    row, line = (name if name not in folded else PREFIX + name for name in _POSITION)
    return row, line


def outcome_header(columns: Sequence[str]) -> list[str]:
    """The whole header of an outcome file for input ``columns`` (already without result ones)."""
    return [*columns, *position_columns(columns), *OUTCOME_FIELDS]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One row's outcome as written: status, codes, a human-readable message, contact id."""

    status: str
    error_code: str = ""
    message: str = ""
    contact_id: str = ""
    attempts: int = 0
    problems: tuple[tuple[str, str | None, str], ...] = ()  # (code, field, message)
    batch_id: str = ""

    @classmethod
    def of_problems(
        cls, status: str, problems: Iterable[tuple[str, str | None, str]], attempts: int = 0
    ) -> Outcome:
        listed = tuple(problems)
        codes = "; ".join(dict.fromkeys(code for code, _, _ in listed))
        text = "; ".join(f"{f}: {m}" if f else m for _, f, m in listed)
        return cls(status, codes, text, attempts=attempts, problems=listed)

    @classmethod
    def stored(
        cls,
        status: str,
        error_code: str | None,
        error_message: str | None,
        contact_id: str | None = None,
        attempts: int = 0,
        batch_id: str = "",
    ) -> Outcome:
        """An outcome from the ledger's fields (an invalid row's message is its problems as
        JSON; a failed row's is the API's message)."""
        problems = problems_from_text(error_message)
        if problems is not None:
            listed = cls.of_problems(status, problems, attempts)
            return cls(listed.status, listed.error_code, listed.message, contact_id or "",
                       attempts, listed.problems, batch_id)  # fmt: skip
        return cls(
            status, error_code or "", error_message or "", contact_id or "", attempts,
            batch_id=batch_id,
        )  # fmt: skip

    def cells(self, number: int, line: int) -> list[str]:
        """The cells after the input's columns."""
        return [
            str(number),
            str(line),
            self.status,
            self.error_code,
            self.message,
            self.contact_id,
            str(self.attempts),
            self.batch_id,
        ]

    def fields(self, number: int, line: int, columns: Sequence[str]) -> dict[str, Any]:
        """The keys after the input's in a JSON line (``taskloader.problems`` listed too)."""
        row, line_name = position_columns(columns)
        document: dict[str, Any] = {row: number, line_name: line}
        values: list[Any] = [self.status, self.error_code, self.message, self.contact_id]
        document.update(zip(OUTCOME_FIELDS, [*values, self.attempts, self.batch_id], strict=True))
        if self.problems:
            document[PREFIX + "problems"] = [
                {"code": c, "field": f, "message": m} for c, f, m in self.problems
            ]
        return document


def problems_from_text(text: str | None) -> list[tuple[str, str | None, str]] | None:
    """The problems of a ledger message holding them as a JSON list; None for another text."""
    if not text or not text.startswith("[{"):
        return None
    try:
        items = json.loads(text)
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    return [(str(i.get("code", "")), i.get("field"), str(i.get("message", ""))) for i in items]
