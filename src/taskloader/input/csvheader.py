"""A CSV header: the columns its cells name, and the columns its empty cells leave unnamed.

A header cell that is empty or only blanks names no column. Excel leaves such cells over the
columns that once held data or formatting, often several side by side (``key;name;Call before;;``).
An unnamed column is not a column of the file: it is never a duplicate nor an unknown column, its
cells are in no row's values (so in no content key, ledger or result file), and they are never
logged. A value in one is noted once per file, by the column's position and the first line that
holds one (:class:`UnnamedValues`), never by the value.

A record whose only values are in unnamed columns is a record, not a blank line (those are
records of empty cells only): it is a row, with no values, and gets the problems of an empty row.
Nothing in the file is dropped without a row number.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CsvHeader:
    """``cells`` as read (the file's width); ``names`` the columns named, at ``named``
    (positions from 0); ``unnamed`` the positions of the cells that name no column."""

    cells: tuple[str, ...]
    names: tuple[str, ...]
    named: tuple[int, ...]
    unnamed: tuple[int, ...]

    @classmethod
    def of(cls, cells: Sequence[str]) -> CsvHeader:
        named = tuple(i for i, cell in enumerate(cells) if cell.strip())
        unnamed = tuple(i for i, cell in enumerate(cells) if not cell.strip())
        return cls(tuple(cells), tuple(cells[i] for i in named), named, unnamed)

    @property
    def width(self) -> int:
        return len(self.cells)

    def values(self, record: Sequence[str]) -> dict[str, str]:
        """The cells of ``record`` under a named column, by name (a short record: those it has;
        the cells of a long one past the header are not any column's)."""
        if not self.unnamed:
            return dict(zip(self.names, record, strict=False))
        size = len(record)
        return {name: record[i] for name, i in zip(self.names, self.named, strict=True) if i < size}


class UnnamedValues:
    """Finds the unnamed columns of a file that hold a value in some record, and notes them once,
    when the file has been read (:meth:`note`)."""

    def __init__(self, source: str, header: CsvHeader) -> None:
        self._source = source
        self._left = list(header.unnamed)  # not yet seen holding a value
        self._filled: list[int] = []
        self._line = 0  # the first line holding one
        self._noted = False

    def scan(self, lines: Sequence[int], records: Sequence[Sequence[str]]) -> None:
        """Look at a chunk of records (``lines[i]``: the line ``records[i]`` starts on)."""
        for i in list(self._left):
            try:  # records of the header's width: one pass in C
                found = any(map(operator.itemgetter(i), records))
            except IndexError:  # a short record
                found = any(len(r) > i and r[i] for r in records)
            if found:
                self._left.remove(i)
                self._filled.append(i)
                first = next(n for n, r in zip(lines, records, strict=True) if len(r) > i and r[i])
                self._line = min(first, self._line or first)

    def note(self) -> None:
        """Log, once, which unnamed columns hold values (nothing if none does)."""
        if self._noted or not self._filled:
            return
        self._noted = True
        positions = sorted(i + 1 for i in self._filled)
        where = f"position{'s' if len(positions) > 1 else ''} {', '.join(map(str, positions))}"
        log.warning(
            "input.unnamed_columns_ignored",
            source=self._source,
            columns=positions,
            first_line=self._line,
            note=f"the header names no column at {where} (an empty cell): values there are "
            "ignored; name the column in the header to use them",
        )
