"""The CSV reader checks UTF-8 and NUL a 64 KiB block at a time and numbers lines lazily.

Everything here goes through the public readers (``open_rows``, ``read_rows``, iteration and
``RowReader.records``) and compares with what the test itself wrote: the line a bad byte or a
record is on is counted from the bytes of the file, never taken from the reader.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskloader.errors import InputFileError
from taskloader.input.readers import Row, RowReader, SourceOptions, open_rows, read_rows

BLOCK = 64 * 1024
READ_SIZES = (1, 2, 3, 7, 256, 100_000)


def line_of(data: bytes, offset: int) -> int:
    """The 1-based physical line (split at LF) holding byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


def reader_of(data: bytes, name: str = "x.csv", **options: object) -> RowReader:
    return read_rows(io.BytesIO(data), name, SourceOptions(**options))  # type: ignore[arg-type]


def all_records(reader: RowReader, size: int) -> tuple[list[int], list[list[str]]]:
    assert reader.records is not None
    lines: list[int] = []
    records: list[list[str]] = []
    while True:
        got_lines, got = reader.records.read(size)
        assert len(got_lines) == len(got)
        if not got:
            return lines, records
        lines += got_lines
        records += got


def rows_until_error(reader: RowReader) -> tuple[list[Row], InputFileError]:
    rows: list[Row] = []
    with pytest.raises(InputFileError) as caught:
        for row in reader:
            rows.append(row)
    return rows, caught.value


# --- a bad byte far down ----------------------------------------------------------------------

BAD = {
    "nul": (b"\x00", "NUL"),
    "latin1": (b"caf\xe9", "not UTF-8"),
    "ff": (b"\xff", "not UTF-8"),
    "lone continuation": (b"\x80", "not UTF-8"),
    "overlong": (b"\xc0\xaf", "not UTF-8"),
    "surrogate": (b"\xed\xa0\x80", "not UTF-8"),
    "cut short": (b"\xe2\x82", "not UTF-8"),  # then an ASCII byte
}
LINES = 10_000
BAD_LINE = 5_000


def big_file(bad: bytes, where: str = "middle") -> bytes:
    """A header and LINES - 1 records; line BAD_LINE holds ``bad`` at its start, middle or end."""
    out = [b"n,text\n"]
    for line in range(2, LINES + 1):
        text = b"row %05d with some padding to make the file long" % line
        if line == BAD_LINE:
            text = {"start": bad + text, "middle": text[:10] + bad + text[10:], "end": text + bad}[
                where
            ]
        out.append(b"%d,%s\n" % (line, text))
    data = b"".join(out)
    assert data.find(bad) > 2 * BLOCK  # well past the first blocks
    assert line_of(data, data.find(bad)) == BAD_LINE
    return data


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_byte_far_down_names_its_line_in_row_iteration(kind: str, where: str) -> None:
    bad, words = BAD[kind]
    _, error = rows_until_error(reader_of(big_file(bad, where)))
    assert error.line == BAD_LINE
    assert words in error.reason
    assert error.source == "x.csv"


@pytest.mark.parametrize("size", READ_SIZES)
@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_byte_far_down_names_its_line_in_record_chunks(kind: str, size: int) -> None:
    bad, words = BAD[kind]
    with pytest.raises(InputFileError) as caught:
        all_records(reader_of(big_file(bad)), size)
    assert caught.value.line == BAD_LINE
    assert words in caught.value.reason


@pytest.mark.parametrize("kind", ["nul", "latin1"])
def test_records_read_one_at_a_time_are_all_delivered_before_a_bad_line(kind: str) -> None:
    reader = reader_of(big_file(BAD[kind][0]))
    assert reader.records is not None
    seen: list[tuple[int, list[str]]] = []
    with pytest.raises(InputFileError) as caught:
        while True:
            lines, records = reader.records.read(1)
            if not records:
                break
            seen += zip(lines, records, strict=True)
    assert caught.value.line == BAD_LINE
    assert [line for line, _ in seen] == list(range(2, BAD_LINE))
    assert all(record[0] == str(line) for line, record in seen)


@pytest.mark.parametrize("kind", ["nul", "latin1"])
def test_row_iteration_yields_every_row_before_a_bad_line(kind: str) -> None:
    rows, error = rows_until_error(reader_of(big_file(BAD[kind][0])))
    assert error.line == BAD_LINE
    assert [r.line for r in rows] == list(range(2, BAD_LINE))
    assert [r.number for r in rows] == list(range(1, BAD_LINE - 1))


def test_bad_byte_in_a_later_line_of_a_quoted_cell_names_that_line() -> None:
    head = b"n,text\n" + b"".join(b'%d,"filler line"\n' % i for i in range(2, 4000))
    data = head + b'4000,"first\nsecond\nthi\xffrd"\n4001,after\n'
    assert data.find(b"\xff") > BLOCK
    _, error = rows_until_error(reader_of(data))
    assert error.line == line_of(data, data.find(b"\xff")) == 4002


def padded_to(offset: int, tail: bytes) -> bytes:
    """Header and records so that ``tail`` (the start of a last record's text) begins exactly at
    byte ``offset``."""
    out = b"n,text\n"
    i = 2
    while len(out) + 40 < offset - 60:
        out += b"%d,%s\n" % (i, b"p" * 30)
        i += 1
    prefix = b"%d," % i
    out += prefix + b"q" * (offset - len(out) - len(prefix))
    assert len(out) == offset
    return out + tail


@pytest.mark.parametrize("boundary", [BLOCK, 2 * BLOCK])
@pytest.mark.parametrize(
    ("tail", "bad_at"),
    [
        (b"\xe2" + b"A\n", 0),  # a lead byte ends the block, no continuation follows
        (b"\xf0\x9d" + b"AA\n", 0),
        (b"\xe2\x82" + b"\n", 0),
        (b"\x00rest\n", 0),
        (b"\xffrest\n", 0),
        (b"\n\xffrest\n", 1),  # a new line starts the next block with a bad byte
        (b"\n\x00rest\n", 1),
        # a good character split by the boundary, then a bad byte and a newline right after it
        (b"\xc3\xa9\xff\nrest\n", 2),
        (b"\xe2\x82\xac\xff\nrest\n", 3),
        (b"\xf0\x9d\x84\x9e\xff\nrest\n", 4),
        (b"\xe2\x82\xac\x00\nrest\n", 3),
    ],
)
def test_a_bad_byte_at_a_block_boundary(boundary: int, tail: bytes, bad_at: int) -> None:
    """The bad sequence starts right before, at or right after the 64 KiB boundary."""
    for shift in (-3, -2, -1, 0, 1):
        data = padded_to(boundary + shift, tail)
        expected = line_of(data, boundary + shift + bad_at)
        _, error = rows_until_error(reader_of(data))
        assert error.line == expected
        for size in (3, 1000):
            with pytest.raises(InputFileError) as caught:
                all_records(reader_of(data), size)
            assert caught.value.line == expected


# --- multi-byte characters across block boundaries --------------------------------------------

CHARS = ("é", "€", "𝄞")  # 2, 3 and 4 UTF-8 bytes


def straddling(char: str, before: int, multiline: bool) -> tuple[bytes, list[list[str]], list[int]]:
    """A file where ``char`` sits across each of the first three block boundaries with
    ``before`` of its bytes in the earlier block (in a quoted two-line cell or a plain one); the
    records written and the line each starts on."""
    encoded = char.encode()
    records: list[list[str]] = []
    lines: list[int] = []
    out = bytearray(b"n,text\n")
    line = 2  # the line the next record starts on

    def add(cells: list[str], text: str) -> None:
        nonlocal line
        records.append(cells)
        lines.append(line)
        line += text.count("\n")
        out.extend(text.encode())

    i = 2
    for boundary in (BLOCK, 2 * BLOCK, 3 * BLOCK):
        while len(out) + 100 < boundary:
            text = f"filler {i} {char}{char}"
            add([str(i), text], f"{i},{text}\n")
            i += 1
        head = "multi\nline " if multiline else "plain "
        prefix = f'{i},"{head}' if multiline else f"{i},{head}"
        pad = boundary - before - len(out) - len(prefix.encode())
        text = head + "p" * pad + char + " after"
        add([str(i), text], f'{i},"{text}"\n' if multiline else f"{i},{text}\n")
        start = boundary - before
        assert bytes(out[start : start + len(encoded)]) == encoded
        i += 1
    for j in range(5):
        add([str(i + j), f"tail {char}"], f"{i + j},tail {char}\n")
    assert line == out.count(b"\n") + 1
    return bytes(out), records, lines


@pytest.mark.parametrize(
    ("char", "before"), [(c, k) for c in CHARS for k in range(1, len(c.encode()))]
)
@pytest.mark.parametrize("multiline", [False, True])
@pytest.mark.parametrize("name", ["x.csv", "x.csv.gz"])
def test_a_character_across_a_block_boundary_is_read_whole(
    char: str, before: int, multiline: bool, name: str
) -> None:
    data, written, lines = straddling(char, before, multiline)
    raw = gzip.compress(data) if name.endswith(".gz") else data
    rows = list(read_rows(io.BytesIO(raw), name, SourceOptions()))
    assert [[r.values["n"], r.values["text"]] for r in rows] == written
    assert [r.line for r in rows] == lines
    for size in (7, 1000):
        got = all_records(read_rows(io.BytesIO(raw), name, SourceOptions()), size)
        assert got == (lines, written)


# --- a file cut inside a character ------------------------------------------------------------


@pytest.mark.parametrize("trailing_newline_before", [False, True])
@pytest.mark.parametrize("length", [200, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17])
@pytest.mark.parametrize("cut", [b"\xc3", b"\xe2\x82", b"\xf0\x9d\x84"])
def test_a_file_cut_inside_a_character_is_not_utf8_at_its_last_line(
    cut: bytes, length: int, trailing_newline_before: bool
) -> None:
    body = padded_to(length - len(cut) - 6, b"abcde" + (b"\n" if trailing_newline_before else b"x"))
    data = body + cut
    assert len(data) == length
    last = data.count(b"\n") + 1
    for name, raw in (("x.csv", data), ("x.csv.gz", gzip.compress(data))):
        _, error = rows_until_error(reader_of(raw, name))
        assert error.line == last
        assert "not UTF-8" in error.reason
        with pytest.raises(InputFileError) as caught:
            all_records(reader_of(raw, name), 3)
        assert caught.value.line == last


def test_a_header_cut_inside_a_character() -> None:
    with pytest.raises(InputFileError) as caught:
        reader_of(b"name,caf\xc3")
    assert caught.value.line == 1
    assert "not UTF-8" in caught.value.reason


# --- start lines: embedded newlines, blank lines, ragged records ------------------------------


@dataclass
class Written:
    data: bytes
    header: list[str]
    records: list[list[str]]  # as the reader should give them
    lines: list[int]  # the physical line each starts on
    ragged: list[int]  # indexes of records whose width is not the header's


#: Read sizes to test; 1 and 2 are smaller than the runs of blank lines the files hold.
SIZES = [1, 2, 3, 7, 256]


CELL = st.one_of(
    st.sampled_from(["", "a", "plain text", " spaced ", "é€𝄞", "x" * 70_000]),
    st.lists(st.sampled_from([*'ab ,"\n\r', "\r\n", "é", "€", "𝄞"]), max_size=8).map("".join),
)


def quoted(cell: str, force: bool) -> str:
    if force or any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def csv_files(draw: st.DrawFn) -> Written:
    width = draw(st.integers(1, 4))
    header = [f"c{i}" for i in range(width)]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    blank = draw(st.sampled_from(["\n", "\r\n"]))
    text = draw(st.sampled_from(["", "\ufeff"]))  # a BOM changes no line
    text += blank * draw(st.integers(0, 2))
    line = text.count("\n") + 1
    text += ",".join(header) + eol
    line += 1
    records: list[list[str]] = []
    lines: list[int] = []
    ragged: list[int] = []
    n = draw(st.integers(0, 25))
    for i in range(n):
        gap = draw(st.integers(0, 2)) if i and draw(st.integers(0, 3)) == 0 else 0
        text += blank * gap
        line += gap
        cells_width = width if draw(st.integers(0, 4)) else draw(st.integers(1, width + 2))
        cells = draw(st.lists(CELL, min_size=cells_width, max_size=cells_width))
        force = draw(st.booleans()) or cells == [""]
        record = ",".join(quoted(c, force) for c in cells)
        last = i == n - 1
        ending = "" if last and draw(st.booleans()) else eol
        if any(cells):  # a record of empty cells only is skipped, as a blank line is
            if cells_width != width:
                ragged.append(len(records))
            records.append(cells)
            lines.append(line)
        text += record + ending
        line += (record + ending).count("\n")
    return Written(text.encode(), header, records, lines, ragged)


def expected_rows(w: Written) -> list[tuple[int, int, dict[str, str], tuple[str, ...]]]:
    out = []
    for i, (cells, line) in enumerate(zip(w.records, w.lines, strict=True)):
        values = dict(zip(w.header, cells, strict=False))
        out.append((i + 1, line, values, ("ragged_row",) if i in w.ragged else ()))
    return out


def as_tuples(rows: Iterator[Row]) -> list[tuple[int, int, dict[str, str], tuple[str, ...]]]:
    return [(r.number, r.line, r.values, tuple(c for c, _ in r.problems)) for r in rows]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(w=csv_files())
def test_start_lines_match_the_physical_lines_written(w: Written) -> None:
    tolerance = len(w.ragged)
    reader = reader_of(w.data, ragged_tolerance=tolerance)
    assert list(reader.columns) == w.header
    assert as_tuples(iter(reader)) == expected_rows(w)
    for size in SIZES:
        got = all_records(reader_of(w.data, ragged_tolerance=tolerance), size)
        assert got == (w.lines, w.records)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(w=csv_files(), data=st.data())
def test_ragged_records_beyond_the_tolerance_name_the_first_one_over(
    w: Written, data: st.DataObject
) -> None:
    assume(w.ragged)
    tolerance = data.draw(st.integers(0, len(w.ragged) - 1))
    over = w.lines[w.ragged[tolerance]]
    _, error = rows_until_error(reader_of(w.data, ragged_tolerance=tolerance))
    assert error.line == over
    assert "ragged" in error.reason
    for size in SIZES:
        with pytest.raises(InputFileError) as caught:
            all_records(reader_of(w.data, ragged_tolerance=tolerance), size)
        assert caught.value.line == over


def test_start_lines_example() -> None:
    """One file with everything, numbered by hand."""
    data = (
        b"\r\n"  # 1: blank before the header
        b"a,b\r\n"  # 2: header
        b'1,"two\r\nlines"\r\n'  # 3-4
        b"\r\n"  # 5: blank
        b"\r\n"  # 6: blank
        b"2\r\n"  # 7: ragged (short)
        b'3,"x\n\ny",extra\r\n'  # 8-10: ragged (long), LF inside a CRLF file
        b"4,last"  # 11: no final newline
    )
    rows = list(reader_of(data, ragged_tolerance=2))
    assert [(r.number, r.line) for r in rows] == [(1, 3), (2, 7), (3, 8), (4, 11)]
    assert rows[0].values == {"a": "1", "b": "two\r\nlines"}
    assert rows[2].values == {"a": "3", "b": "x\n\ny"}
    for size in (3, 7):
        assert all_records(reader_of(data, ragged_tolerance=2), size)[0] == [3, 7, 8, 11]
    with pytest.raises(InputFileError) as caught:
        list(reader_of(data, ragged_tolerance=1))
    assert caught.value.line == 8


@pytest.mark.parametrize("size", [1, 2])
def test_records_after_blank_lines_are_read_in_small_chunks(size: int) -> None:
    data = b"a,b\n1,x\n\n\n\n2,y\n"
    assert all_records(reader_of(data), size) == ([2, 6], [["1", "x"], ["2", "y"]])


def test_rows_after_many_blank_lines_are_read() -> None:
    data = b"name\nfirst\n" + b"\n" * 600 + b"second\n"
    rows = list(reader_of(data))
    assert [(r.line, r.values["name"]) for r in rows] == [(2, "first"), (603, "second")]


# --- gzip and BOM -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["nul", "latin1", "cut short"])
def test_gzip_input_names_the_same_line_as_the_plain_file(tmp_path: Path, kind: str) -> None:
    data = big_file(BAD[kind][0])
    plain = tmp_path / "rows.csv"
    plain.write_bytes(data)
    packed = tmp_path / "rows.csv.gz"
    packed.write_bytes(gzip.compress(data))
    errors = []
    for path in (plain, packed):
        with open_rows(str(path), SourceOptions()) as reader, pytest.raises(InputFileError) as e:
            list(reader)
        errors.append(e.value)
        with open_rows(str(path), SourceOptions()) as reader, pytest.raises(InputFileError) as e:
            all_records(reader, 7)
        errors.append(e.value)
    assert [e.line for e in errors] == [BAD_LINE] * 4
    assert errors[2].source == str(packed)


@pytest.mark.parametrize("gz", [False, True])
def test_a_bom_is_dropped_from_the_first_column_name(tmp_path: Path, gz: bool) -> None:
    data = "\ufeffname,Notes\nTask one,\ufeffkept\n".encode()
    path = tmp_path / ("rows.csv.gz" if gz else "rows.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    with open_rows(str(path), SourceOptions()) as reader:
        assert reader.columns == ("name", "Notes")
        rows = list(reader)
    assert [(r.line, r.values) for r in rows] == [(2, {"name": "Task one", "Notes": "\ufeffkept"})]


def test_a_bom_before_blank_lines_and_the_header() -> None:
    reader = reader_of("\ufeff\n\nname\nx\n".encode())
    assert reader.columns == ("name",)
    assert [(r.line, r.values) for r in reader] == [(4, {"name": "x"})]
