"""Streaming CSV/JSONL readers: a binary stream in, :class:`Row` values out, one at a time.

Memory does not grow with the file: one record is held at a time. Every row keeps its record
number and the line it starts on. Problems with the whole file raise
:class:`~taskloader.errors.InputFileError` naming the file and the line; a problem with one row
(a ragged CSV record within the tolerance) travels with the row in :attr:`Row.problems`.

Bytes become lines in :mod:`taskloader.input.text` (the encoding, the delimiter). A CSV header's
names must differ once trimmed and case-folded (:func:`fold`), as the mapping matches them; an
empty header cell names no column (:mod:`taskloader.input.csvheader`: its column is ignored);
records of empty cells only (``,,,,``) are skipped like blank lines.

The CSV reader raises the process-wide ``csv.field_size_limit`` to :data:`FIELD_SIZE_LIMIT` so that
very large cells (a 10 MB note) are read, not refused.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

from taskloader.errors import InputFileError
from taskloader.input.csvheader import CsvHeader, UnnamedValues
from taskloader.input.text import Lines, sniff_delimiter

Format = Literal["csv", "jsonl"]

#: Largest CSV cell accepted, in characters.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024

#: Row-level problem code a ragged CSV record carries (see :mod:`taskloader.mapping.rules`).
RAGGED_ROW = "ragged_row"


@dataclass(frozen=True, slots=True)
class Row:
    """One input record. ``values`` maps column (or JSON key) to the cell as read.

    CSV values are strings, empty cells kept as ``""`` (the mapper treats them as absent);
    JSONL values are the decoded JSON values. ``problems`` holds ``(code, message)`` pairs found
    while reading (only ``ragged_row`` today).
    """

    source: str
    number: int
    line: int
    values: dict[str, Any]
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SourceOptions:
    format: Format | None = None  # None: from the file name's suffix, ".gz" stripped first
    delimiter: str | None = None  # None: a tab for .tsv, else sniffed from the header line
    quotechar: str = '"'
    ragged_tolerance: int = 0  # ragged CSV records tolerated (as row problems) before failing
    encoding: str | None = None  # None: UTF-8 (a byte-order mark says UTF-8 or UTF-16)


def detect_format(name: str, options: SourceOptions) -> Format:
    if options.format is not None:
        return options.format
    base = name.lower().removesuffix(".gz")
    if base.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if base.endswith((".csv", ".tsv", ".txt")) or name == "-":
        return "csv"
    raise InputFileError(name, "cannot tell the format from the name; set the format")


class RowReader:
    """An iterator of :class:`Row` with the file's ``columns`` (the CSV header's names in order;
    for JSONL the keys in first-seen order, growing as rows are read).

    For CSV, ``records`` is the same stream one level lower, read in chunks of cells (numbered
    1, 2, ... in order; see :func:`csv_row`). A consumer reads one or the other, never both.
    """

    def __init__(
        self, rows: Iterator[Row], columns: list[str], records: CsvRecords | None = None
    ) -> None:
        self._rows = rows
        self._columns = columns
        self.records = records
        self.encoding = "utf-8"  # the encoding the file was read in

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def __next__(self) -> Row:
        return next(self._rows)


def read_rows(stream: BinaryIO | IO[bytes], name: str, options: SourceOptions) -> RowReader:
    """Read rows from any binary stream; gunzips when ``name`` ends with ``.gz``.

    The CSV header is read at once (so an empty file fails here); rows are read lazily.
    """
    fmt = detect_format(name, options)
    raw: IO[bytes] = stream
    if name.lower().endswith(".gz"):
        raw = cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
    lines = Lines(raw, name, options.encoding)
    if fmt == "jsonl":
        columns: list[str] = []
        reader = RowReader(_json_rows(lines, columns), columns)
        reader.encoding = lines.encoding
        return reader
    return _csv_reader(lines, options)


@contextlib.contextmanager
def opening(path: str) -> Iterator[None]:
    """Turn the errors of opening the local file ``path`` into its file-level error."""
    try:
        yield
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a file") from None
    except PermissionError:
        raise InputFileError(path, "permission denied") from None


@contextlib.contextmanager
def open_rows(path: str, options: SourceOptions) -> Iterator[RowReader]:
    """Open ``path`` (``-`` is stdin) and read its rows; the file is closed on exit."""
    if path == "-":
        yield read_rows(sys.stdin.buffer, "-", options)
        return
    with opening(path):
        fh = Path(path).open("rb")  # noqa: SIM115 - closed below, after the caller is done
    with fh:
        yield read_rows(fh, path, options)


def fold(column: str) -> str:
    """A column name as it is matched: surrounding blanks dropped, letter case folded."""
    return column.strip().casefold()


def _csv_reader(lines: Lines, options: SourceOptions) -> RowReader:
    name = lines.name
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    peeked = _peek_header_line(lines)
    delimiter = options.delimiter
    if delimiter is None:
        tsv = name.lower().removesuffix(".gz").endswith(".tsv")
        delimiter = "\t" if tsv else sniff_delimiter(peeked[-1] if peeked else "")
    source = itertools.chain(peeked, lines.lines)
    reader = csv.reader(source, delimiter=delimiter, quotechar=options.quotechar, strict=True)
    cells = _next_record(reader, lines, name)
    while cells is not None and not any(cells):  # blank lines before the header
        cells = _next_record(reader, lines, name)
    if cells is None:
        raise InputFileError(name, "empty file: no header row", line=1)
    line = reader.line_num
    header = CsvHeader.of(cells)
    if not header.names:
        raise InputFileError(name, "the header row names no column: its cells are blank", line=line)
    seen: dict[str, str] = {}
    for column in header.names:
        if column in seen.values():
            raise InputFileError(name, f"duplicate column {column!r} in the header", line=line)
        other = seen.setdefault(fold(column), column)
        if other != column:
            raise InputFileError(
                name,
                f"columns {other!r} and {column!r} are the same name once blanks and letter "
                "case are ignored; rename one",
                line=line,
            )
    records = CsvRecords(reader, lines, header, options.ragged_tolerance)
    rows = RowReader(_csv_rows(records, name, header), list(header.names), records)
    rows.encoding = lines.encoding
    return rows


def _peek_header_line(lines: Lines) -> list[str]:
    """The lines up to the first one that is not blank (to sniff the delimiter from)."""
    peeked: list[str] = []
    while True:
        try:
            text = next(lines.lines)
        except StopIteration:
            return peeked
        except Exception as exc:
            raise lines.failure(exc, len(peeked) + 1) or exc from None
        peeked.append(text)
        if text.strip():
            return peeked


def _next_record(reader: Any, lines: Lines, name: str) -> list[str] | None:
    try:
        record: list[str] = next(reader)
    except StopIteration:
        return None
    except Exception as exc:
        raise _csv_error(exc, reader, lines) or exc from None
    return record


def _csv_error(exc: Exception, reader: Any, lines: Lines) -> InputFileError | None:
    line = int(reader.line_num)
    failure = lines.failure(exc, line + 1)
    if failure is not None:
        return failure
    if not isinstance(exc, csv.Error):
        return None
    text = str(exc)
    if "field larger than field limit" in text:
        return InputFileError(lines.name, "a field is larger than the size limit", line=line)
    return InputFileError(lines.name, f"malformed CSV: {text}", line=line)


class CsvRecords:
    """A CSV file's records a chunk at a time, with the line each one starts on.

    :meth:`read` hands back ``(lines, records)``: ``records`` as the csv module parsed them
    (blank lines dropped, ragged records kept, refused past the tolerance) and ``lines[i]`` the
    line ``records[i]`` starts on. A chunk without blank lines, embedded newlines or ragged
    records (the usual case) costs no per-record Python work beyond the parse. The records are
    whole: ``header`` tells which of their cells are under a named column.
    """

    def __init__(self, reader: Any, lines: Lines, header: CsvHeader, tolerance: int) -> None:
        self._reader = reader
        self._lines = lines
        self.header = header
        self._width = header.width
        self._unnamed = UnnamedValues(lines.name, header) if header.unnamed else None
        self._tolerance = tolerance
        self._ragged = 0
        self._failed: Exception | None = None  # raised by the next read

    def read(self, size: int) -> tuple[Sequence[int], list[list[str]]]:
        """Up to ``size`` records, none only at the end of the file. Blocking.

        A file-level problem is raised once the records before it have been handed back; values
        under unnamed columns are noted at the end of the file.
        """
        lines, records = self._read(size)
        if self._unnamed is not None:
            if records:
                self._unnamed.scan(lines, records)
            else:
                self._unnamed.note()
        return lines, records

    def _read(self, size: int) -> tuple[Sequence[int], list[list[str]]]:
        if self._failed is not None:
            raise self._failed
        reader = self._reader
        while True:
            base = reader.line_num  # the line before the chunk's first record
            records: list[list[str]] = []
            try:
                records.extend(itertools.islice(reader, size))  # keeps what came before a failure
            except Exception as exc:
                self._failed = _csv_error(exc, reader, self._lines) or exc
            if (
                self._failed is None
                and reader.line_num - base == len(records)
                and set(map(len, records)) == {self._width}
                and all(map(any, records))  # no record of empty cells only
            ):
                return range(base + 1, base + 1 + len(records)), records
            starts, kept = self._walk(base, records)
            if kept or (not records and self._failed is None):
                return starts, kept
            if self._failed is not None:
                raise self._failed
            # only blank lines: read on

    def _walk(self, line: int, records: list[list[str]]) -> tuple[list[int], list[list[str]]]:
        starts: list[int] = []
        kept: list[list[str]] = []
        for record in records:
            start = line + 1
            line = start + sum(cell.count("\n") for cell in record)
            if not any(record):  # a blank line, or only delimiters (",,,,")
                continue
            if len(record) != self._width:
                self._ragged += 1
                if self._ragged > self._tolerance:
                    self._failed = InputFileError(
                        self._lines.name,
                        f"ragged record: {len(record)} fields, the header has {self._width} "
                        f"(more than {self._tolerance} ragged records tolerated)",
                        line=start,
                    )
                    break
            starts.append(start)
            kept.append(record)
        return starts, kept


def csv_row(name: str, header: CsvHeader, number: int, line: int, record: list[str]) -> Row:
    """The :class:`Row` of one CSV record; a ragged record carries its ``ragged_row`` problem."""
    values = header.values(record)
    if len(record) == header.width:
        return Row(name, number, line, values)
    message = f"record has {len(record)} fields, the header has {header.width}"
    return Row(name, number, line, values, ((RAGGED_ROW, message),))


def _csv_rows(records: CsvRecords, name: str, header: CsvHeader) -> Iterator[Row]:
    number = 0
    while True:
        lines, chunk = records.read(256)
        if not chunk:
            return
        for line, record in zip(lines, chunk, strict=True):
            number += 1
            yield csv_row(name, header, number, line, record)


def _json_rows(lines: Lines, columns: list[str]) -> Iterator[Row]:
    name = lines.name
    known: set[str] = set()
    number = line_no = 0
    it = lines.lines
    while True:
        try:
            text = next(it)
        except StopIteration:
            return
        except Exception as exc:
            raise lines.failure(exc, line_no + 1) or exc from None
        line_no += 1
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_constant=_no_constants)
        except RecursionError:
            raise InputFileError(name, "JSON nested too deeply", line=line_no) from None
        except json.JSONDecodeError as exc:
            raise InputFileError(name, f"not valid JSON ({exc.msg})", line=line_no) from None
        except ValueError as exc:  # e.g. an integer beyond Python's digit limit, NaN
            raise InputFileError(name, f"not valid JSON ({exc})", line=line_no) from None
        if not isinstance(value, dict):
            raise InputFileError(name, "line is not a JSON object", line=line_no)
        for key in value:
            if key not in known:
                known.add(key)
                columns.append(key)
        number += 1
        problems: tuple[tuple[str, str], ...] = ()
        if "\\u" in text and _has_lone_surrogate(value):
            problems = (("invalid_text", "a string holds a lone surrogate: not valid Unicode"),)
            # The row is invalid; what is kept of it (ledger, result files) must still be text.
            value = _without_surrogates(value)
        yield Row(name, number, line_no, value, problems)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


#: A surrogate code point: json.loads joins a valid pair into one character, so one left in a
#: decoded string is lone.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """``value`` with each lone surrogate replaced by U+FFFD (the replacement character)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """True when a decoded JSON value holds a lone surrogate escape such as ``\\ud800``."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
