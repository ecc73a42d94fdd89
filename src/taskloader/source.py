"""Streaming CSV/JSONL readers: a binary stream in, :class:`Row` values out, one at a time.

Memory does not grow with the file: one record is held at a time. Every row keeps its record
number and the line it starts on. Problems with the whole file raise
:class:`~taskloader.errors.InputFileError` naming the file and the line; a problem with one row
(a ragged CSV record within the tolerance) travels with the row in :attr:`Row.problems`.

The CSV reader raises the process-wide ``csv.field_size_limit`` to :data:`FIELD_SIZE_LIMIT` so that
very large cells (a 10 MB note) are read, not refused.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

from taskloader.errors import InputFileError

Format = Literal["csv", "jsonl"]

#: Largest CSV cell accepted, in characters.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024

#: Row-level problem code a ragged CSV record carries (see :mod:`taskloader.rules`).
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
    delimiter: str = ","
    quotechar: str = '"'
    ragged_tolerance: int = 0  # ragged CSV records tolerated (as row problems) before failing


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
    """An iterator of :class:`Row` with the file's ``columns`` (CSV header order; for JSONL the
    keys in first-seen order, growing as rows are read)."""

    def __init__(self, rows: Iterator[Row], columns: list[str]) -> None:
        self._rows = rows
        self._columns = columns

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
    lines = _Lines(raw, name)
    if fmt == "jsonl":
        columns: list[str] = []
        return RowReader(_json_rows(lines, columns), columns)
    return _csv_reader(lines, options)


@contextlib.contextmanager
def open_rows(path: str, options: SourceOptions) -> Iterator[RowReader]:
    """Open ``path`` (``-`` is stdin) and read its rows; the file is closed on exit."""
    if path == "-":
        yield read_rows(sys.stdin.buffer, "-", options)
        return
    try:
        fh = Path(path).open("rb")  # noqa: SIM115 - closed below, after the caller is done
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a file") from None
    except PermissionError:
        raise InputFileError(path, "permission denied") from None
    with fh:
        yield read_rows(fh, path, options)


class _Lines:
    """Decoded lines of a binary stream (C-level iteration: ``map`` over the stream's lines).

    Decoding and gzip failures surface from ``iterate``'s consumer; :meth:`failure` turns them
    into an InputFileError at the line the consumer had reached.
    """

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self.name = name
        try:
            first = raw.readline()
            head = (_decode(first).removeprefix("\ufeff"),) if first else ()
            self.lines: Iterator[str] = itertools.chain(head, map(_decode, raw))
        except Exception as exc:
            raise self.failure(exc, 1) or exc from None

    def failure(self, exc: BaseException, line: int) -> InputFileError | None:
        if isinstance(exc, _NulByte):
            return InputFileError(self.name, "binary content (NUL byte)", line=line)
        if isinstance(exc, UnicodeDecodeError):
            return InputFileError(self.name, "not UTF-8 text", line=line)
        if isinstance(exc, (OSError, EOFError, zlib.error)):
            return InputFileError(self.name, f"cannot read: {exc}", line=line)
        return None


class _NulByte(ValueError):
    pass


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise _NulByte
    return data.decode("utf-8")


def _csv_reader(lines: _Lines, options: SourceOptions) -> RowReader:
    name = lines.name
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    reader = csv.reader(
        lines.lines, delimiter=options.delimiter, quotechar=options.quotechar, strict=True
    )
    header = _next_record(reader, lines, name)
    while header == []:  # blank lines before the header
        header = _next_record(reader, lines, name)
    if header is None:
        raise InputFileError(name, "empty file: no header row", line=1)
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputFileError(name, f"duplicate column {column!r} in the header", line=1)
        seen.add(column)
    return RowReader(_csv_rows(reader, lines, header, options.ragged_tolerance), header)


def _next_record(reader: Any, lines: _Lines, name: str) -> list[str] | None:
    try:
        record: list[str] = next(reader)
    except StopIteration:
        return None
    except Exception as exc:
        raise _csv_error(exc, reader, lines) or exc from None
    return record


def _csv_error(exc: Exception, reader: Any, lines: _Lines) -> InputFileError | None:
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


def _csv_rows(reader: Any, lines: _Lines, header: list[str], tolerance: int) -> Iterator[Row]:
    name = lines.name
    width = len(header)
    number = 0
    ragged = 0
    start = reader.line_num + 1
    try:
        for record in reader:
            end = reader.line_num
            if len(record) == width:
                number += 1
                yield Row(name, number, start, dict(zip(header, record, strict=True)))
            elif record:
                ragged += 1
                if ragged > tolerance:
                    raise InputFileError(
                        name,
                        f"ragged record: {len(record)} fields, the header has {width} "
                        f"(more than {tolerance} ragged records tolerated)",
                        line=start,
                    )
                number += 1
                message = f"record has {len(record)} fields, the header has {width}"
                values = dict(zip(header, record, strict=False))
                yield Row(name, number, start, values, ((RAGGED_ROW, message),))
            start = end + 1
    except InputFileError:
        raise
    except Exception as exc:
        raise _csv_error(exc, reader, lines) or exc from None


def _json_rows(lines: _Lines, columns: list[str]) -> Iterator[Row]:
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
        yield Row(name, number, line_no, value, problems)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _has_lone_surrogate(value: Any) -> bool:
    """True when a decoded JSON value holds a lone surrogate escape such as ``\\ud800``."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
