"""Encodings and delimiters: a byte-order mark or --encoding, the delimiter sniffed from the
header line; every path gives the same rows, lines and errors as UTF-8 does."""

from __future__ import annotations

import gzip
import io

import pytest

from taskloader.errors import InputFileError
from taskloader.input.readers import Row, SourceOptions, read_rows
from taskloader.input.text import sniff_delimiter

TEXT = "name,Notes\r\nZoé,café – 120 €\r\n\r\n太田,𝄞 clef\r\n"
ROWS = [
    (1, 2, {"name": "Zoé", "Notes": "café – 120 €"}),
    (2, 4, {"name": "太田", "Notes": "𝄞 clef"}),
]


def rows(data: bytes, name: str = "x.csv", **options: object) -> list[Row]:
    return list(read_rows(io.BytesIO(data), name, SourceOptions(**options)))  # type: ignore[arg-type]


def triples(read: list[Row]) -> list[tuple[int, int, dict[str, object]]]:
    return [(r.number, r.line, r.values) for r in read]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), None),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), None),
        (TEXT.encode("utf-16"), None),  # BOM, native order
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), None),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), "cp1252"),  # a BOM wins over the name
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: named
        (TEXT.encode("utf-8"), "utf-8-sig"),
    ],
)
def test_unicode_files_read_the_same(data: bytes, encoding: str | None) -> None:
    assert triples(rows(data, encoding=encoding)) == ROWS
    assert triples(rows(gzip.compress(data), "x.csv.gz", encoding=encoding)) == ROWS


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso-8859-15"])
def test_western_single_byte_files_read_when_named(encoding: str) -> None:
    text = "name,Notes\nMüller,déjà vu\n"
    assert rows(text.encode(encoding), encoding=encoding)[0].values == {
        "name": "Müller",
        "Notes": "déjà vu",
    }


def test_a_byte_cp1252_does_not_define_names_its_line_after_the_lines_before() -> None:
    data = "name\nJürgen\nZoé\n".encode("cp1252") + b"bad \x81 byte\nlater\n"
    reader = read_rows(io.BytesIO(data), "x.csv", SourceOptions(encoding="cp1252"))
    got = []
    with pytest.raises(InputFileError) as caught:
        got.extend(r.values["name"] for r in reader)
    assert got == ["Jürgen", "Zoé"]
    assert caught.value.line == 4
    assert "not cp1252 text" in caught.value.reason


def test_utf16_far_down_error_and_characters_across_blocks() -> None:
    """Over several 64 KiB blocks: 4-byte characters straddle block edges; a lone surrogate
    far down names its line."""
    lines = ["name,Notes", *[f"row {i},{'𝄞' * (i % 7)}é" for i in range(12_000)]]
    data = ("\n".join(lines) + "\n").encode("utf-16")
    read = rows(data)
    assert len(read) == 12_000
    assert read[-1].values == {"name": "row 11999", "Notes": "𝄞" * (11_999 % 7) + "é"}
    bad = data + b"\x00\xd8x\x00\n\x00"  # a lone high surrogate on line 12002
    with pytest.raises(InputFileError) as caught:
        rows(bad)
    assert caught.value.line == 12_002
    assert "utf-16" in caught.value.reason


@pytest.mark.parametrize("order", ["le", "be"])
def test_utf16_without_a_byte_order_mark_gets_a_hint(order: str) -> None:
    with pytest.raises(InputFileError) as caught:
        rows("name,Notes\na,b\n".encode(f"utf-16-{order}"))
    assert f"UTF-16 without a byte-order mark: set --encoding utf-16-{order}" in caught.value.reason
    with pytest.raises(InputFileError) as caught:
        rows(b"name,Notes\na,\x00b\n")
    assert caught.value.reason == "binary content (NUL byte)"


def test_not_utf8_suggests_an_encoding() -> None:
    with pytest.raises(InputFileError) as caught:
        rows("name\nMüller\n".encode("cp1252"))
    assert caught.value.line == 2
    assert "not UTF-8" in caught.value.reason and "--encoding cp1252" in caught.value.reason


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("name;Notes;key", ";"),
        ("name\tNotes", "\t"),
        ("name|Notes|key", "|"),
        ("name,Notes", ","),
        ("name", ","),
        ('"a;b;c",name,Notes', ","),  # delimiters inside quotes do not count
        ("name;Notes,with comma;x", ";"),
        ("a,b;c", ","),  # a tie: comma
    ],
)
def test_the_delimiter_is_sniffed_from_the_header_line(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header) == delimiter


def test_sniffing_reads_semicolon_tab_and_pipe_files() -> None:
    assert rows(b"\n\nname;Notes\r\nTask, one;x\r\n")[0].values == {
        "name": "Task, one",
        "Notes": "x",
    }
    assert rows(b"name|Notes\na|b\n")[0].values == {"name": "a", "Notes": "b"}
    assert rows(b"name\tNotes\na,1\tb;2\n")[0].values == {"name": "a,1", "Notes": "b;2"}


def test_tsv_is_tab_separated_and_a_named_delimiter_is_obeyed() -> None:
    data = b"name,Notes\ta\nx,y\tz\n"
    assert rows(data, "x.tsv")[0].values == {"name,Notes": "x,y", "a": "z"}
    assert rows(data, "x.tsv.gz".removesuffix(".gz"), delimiter=",")[0].values == {
        "name": "x",
        "Notes\ta": "y\tz",
    }


def test_rows_of_only_delimiters_are_skipped_like_blank_lines() -> None:
    data = b",,\nname,Notes,key\n,,\na,b,c\n,,\n,,,,\n;;\nd,e,f\n,,\n"
    got = rows(data, delimiter=",", ragged_tolerance=1)
    assert [(r.number, r.line, r.values["name"], r.problems) for r in got] == [
        (1, 4, "a", ()),
        (2, 7, ";;", (("ragged_row", "record has 1 fields, the header has 3"),)),
        (3, 8, "d", ()),
    ]


def test_header_names_that_collide_once_folded_are_refused() -> None:
    with pytest.raises(InputFileError) as caught:
        rows(b"\nkey,Name,description, name\n")
    assert caught.value.line == 2
    assert "'Name' and ' name'" in caught.value.reason
