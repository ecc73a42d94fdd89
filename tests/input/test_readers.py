"""Readers: every corpus file gives its expected rows or its one file-level error."""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

import pytest
import structlog.testing

from taskloader.errors import InputFileError
from taskloader.input.readers import Row, SourceOptions, open_rows, read_rows

CORPUS = Path(__file__).parent / "corpus"

# file -> [(record number, start line, values, row problem codes)] expected
ROWS: dict[str, list[tuple[int, int, dict[str, object], tuple[str, ...]]]] = {
    "bom.csv": [(1, 2, {"name": "Task one", "Priority": "High"}, ())],
    "crlf.csv": [
        (1, 2, {"name": "Task one", "Priority": "High"}, ()),
        (2, 3, {"name": "Task two", "Priority": "Low"}, ()),
    ],
    "embedded_newline.csv": [
        (1, 2, {"name": "Task one", "Notes": "line one\nline two\nline three"}, ()),
        (2, 5, {"name": "Task two", "Notes": "plain"}, ()),
    ],
    "embedded_delimiter.csv": [(1, 2, {"name": "Task, one", "Notes": "a;b,c"}, ())],
    "formula.csv": [
        (1, 2, {"name": "=SUM(A1:A2)", "Notes": "+cmd|' /C calc'!A0"}, ()),
        (2, 3, {"name": "@risk", "Notes": "-2+3"}, ()),
    ],
    "header_only.csv": [],
    "blank_lines_between.csv": [
        (1, 3, {"name": "Task one", "Priority": "High"}, ()),
        (2, 6, {"name": "Task two", "Priority": "Low"}, ()),
    ],
    "good.csv.gz": [
        (1, 2, {"name": "Task one", "Priority": "High"}, ()),
        (2, 3, {"name": "Task two", "Priority": "Low"}, ()),
    ],
    "good.jsonl": [
        (1, 1, {"name": "Task one", "Priority": "High"}, ()),
        (2, 3, {"name": "Task two", "fields": {"Amount": 3}}, ()),
    ],
    "duplicate_keys.csv": [
        (1, 2, {"key": "k-1", "name": "Task one", "Priority": "High"}, ()),
        (2, 3, {"key": "k-2", "name": "Task two", "Priority": "Low"}, ()),
        (3, 4, {"key": "k-1", "name": "Task three", "Priority": "Low"}, ()),
    ],
}

# file -> (words in the error, line); with the default ragged tolerance of 0
ERRORS: dict[str, tuple[str, int | None]] = {
    "empty.csv": ("empty file", 1),
    "blank_lines_only.csv": ("empty file", 1),
    "nul_bytes.csv": ("NUL", 2),
    "latin1.csv": ("not UTF-8", 2),
    "latin1.jsonl": ("not UTF-8", 1),
    "ragged_short.csv": ("ragged", 2),
    "duplicate_header.csv": ("duplicate column", 1),
    "unterminated_quote.csv": ("malformed CSV", 2),
    "not_object.jsonl": ("not a JSON object", 2),
    "bad_json.jsonl": ("not valid JSON", 2),
    "truncated.csv.gz": ("cannot read", None),
}


def read_all(path: Path, **options: object) -> list[Row]:
    with open_rows(str(path), SourceOptions(**options)) as rows:  # type: ignore[arg-type]
        return list(rows)


def test_every_corpus_file_has_an_expected_outcome() -> None:
    listed = set(ROWS) | set(ERRORS) | {"ragged_many.csv", "duplicate_rows.csv"}
    assert {p.name for p in CORPUS.iterdir()} == listed


@pytest.mark.parametrize("name", sorted(ROWS))
def test_corpus_file_reads_to_expected_rows(name: str) -> None:
    rows = read_all(CORPUS / name)
    got = [(r.number, r.line, r.values, tuple(code for code, _ in r.problems)) for r in rows]
    assert got == ROWS[name]
    assert all(r.source == str(CORPUS / name) for r in rows)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_corpus_file_fails_with_one_clear_error(name: str) -> None:
    words, line = ERRORS[name]
    with pytest.raises(InputFileError) as caught:
        read_all(CORPUS / name)
    assert words in caught.value.reason
    assert caught.value.source == str(CORPUS / name)
    if line is not None:
        assert caught.value.line == line
    assert str(CORPUS / name) in str(caught.value)


def test_ragged_rows_within_tolerance_become_flagged_rows() -> None:
    rows = read_all(CORPUS / "ragged_many.csv", ragged_tolerance=3)
    assert [(r.number, r.line) for r in rows] == [(1, 2), (2, 3), (3, 4)]
    assert all(r.problems and r.problems[0][0] == "ragged_row" for r in rows)
    assert rows[0].values == {"name": "Task one"}
    assert "3 fields" in rows[2].problems[0][1]


def test_ragged_rows_beyond_tolerance_fail_at_the_first_row_over() -> None:
    with pytest.raises(InputFileError) as caught:
        read_all(CORPUS / "ragged_many.csv", ragged_tolerance=1)
    assert caught.value.line == 3
    assert "ragged" in caught.value.reason


def test_missing_file_is_a_file_level_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        read_all(tmp_path / "nope.csv")


def test_directory_is_a_file_level_error(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(InputFileError, match="directory"):
        read_all(tmp_path / "d.csv")


def test_unknown_suffix_needs_an_explicit_format(tmp_path: Path) -> None:
    path = tmp_path / "rows.dat"
    path.write_text("name\nx\n")
    with pytest.raises(InputFileError, match="format"):
        read_all(path)
    assert [r.values for r in read_all(path, format="csv")] == [{"name": "x"}]


def test_a_ten_megabyte_field_is_read(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    path = tmp_path / "big.csv"
    path.write_text(f'name,Notes\nTask,"{big}"\nTask two,small\n', encoding="utf-8")
    rows = read_all(path)
    assert len(rows[0].values["Notes"]) == len(big)
    assert (rows[1].number, rows[1].line) == (2, 3)


def test_field_limit_is_raised_only_upwards() -> None:
    read_rows(io.BytesIO(b"a\n1\n"), "x.csv", SourceOptions())
    assert csv.field_size_limit() >= 10 * 1024 * 1024


def test_deeply_nested_json_is_a_file_level_error(tmp_path: Path) -> None:
    depth = sys.getrecursionlimit() * 20
    path = tmp_path / "deep.jsonl"
    path.write_text('{"name": "x"}\n' + '{"a": ' * depth + "1" + "}" * depth + "\n")
    with pytest.raises(InputFileError) as caught:
        read_all(path)
    assert caught.value.line == 2


def test_semicolon_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("name;Priority\nTask, one;High\n")
    assert read_all(path, delimiter=";")[0].values == {"name": "Task, one", "Priority": "High"}


def test_columns_follow_the_header_order() -> None:
    reader = read_rows(io.BytesIO(b"b,a,c\n1,2,3\n"), "x.csv", SourceOptions())
    assert reader.columns == ("b", "a", "c")


def test_jsonl_columns_grow_in_first_seen_order() -> None:
    reader = read_rows(io.BytesIO(b'{"b": 1}\n{"a": 2, "b": 3}\n'), "x.jsonl", SourceOptions())
    list(reader)
    assert reader.columns == ("b", "a")


def test_read_rows_takes_any_binary_stream_and_gunzips_by_name() -> None:
    data = gzip.compress(b'{"name": "a"}\n')
    rows = list(read_rows(io.BytesIO(data), "s3://bucket/rows.jsonl.gz", SourceOptions()))
    assert [r.values for r in rows] == [{"name": "a"}]


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(io.BytesIO(b"name\nfrom stdin\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    with open_rows("-", SourceOptions()) as rows:
        assert [r.values for r in rows] == [{"name": "from stdin"}]


def test_rows_are_read_lazily() -> None:
    """Streaming: a bad line far down is only met when iteration reaches it."""
    data = b"name\n" + b"ok\n" * 1000 + b"bad\x00\n"
    reader = read_rows(io.BytesIO(data), "x.csv", SourceOptions())
    first = next(iter(reader))
    assert first.values == {"name": "ok"}
    with pytest.raises(InputFileError) as caught:
        list(reader)
    assert caught.value.line == 1002


def test_latin1_far_down_names_its_line() -> None:
    data = b"name\n" + b"ok\n" * 10 + b"caf\xe9\n"
    with pytest.raises(InputFileError) as caught:
        list(read_rows(io.BytesIO(data), "x.csv", SourceOptions()))
    assert caught.value.line == 12


def test_empty_header_cells_name_no_column() -> None:
    """Excel's trailing empty header cells (several: never a duplicate); a blank one too."""
    data = b"key;name; ;Call before;;\r\nk1;Ana;;2030-01-01;;\r\nk2;Bo;;;\r\n"
    reader = read_rows(io.BytesIO(data), "x.csv", SourceOptions(ragged_tolerance=1))
    assert reader.columns == ("key", "name", "Call before")
    rows = list(reader)
    assert [r.values for r in rows] == [
        {"key": "k1", "name": "Ana", "Call before": "2030-01-01"},
        {"key": "k2", "name": "Bo", "Call before": ""},
    ]
    assert rows[1].problems[0][1] == "record has 5 fields, the header has 6"  # ragged as read


def test_a_value_under_an_unnamed_column_is_noted_once_by_position() -> None:
    data = b"name,,x,\nsecret one,v1,a,\nplain,,b,v2\nsecret two,v3,c,v4\n,,,v5\n"
    with structlog.testing.capture_logs() as logs:
        reader = read_rows(io.BytesIO(data), "x.csv", SourceOptions())
        rows = list(reader)
    # a record with values only under unnamed columns is a row (not a blank line), with none
    assert [r.values for r in rows][-1] == {"name": "", "x": ""}
    notes = [e for e in logs if e["event"] == "input.unnamed_columns_ignored"]
    assert len(notes) == 1
    assert (notes[0]["columns"], notes[0]["first_line"]) == ([2, 4], 2)
    assert "positions 2, 4" in notes[0]["note"]
    assert not [v for v in ("v1", "v2", "v3", "v4", "v5", "secret") if v in str(logs)]


def test_unnamed_columns_without_values_are_not_noted() -> None:
    with structlog.testing.capture_logs() as logs:
        list(read_rows(io.BytesIO(b"name;;\r\na;;\r\n"), "x.csv", SourceOptions()))
    assert logs == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"name,Name ,,\na,b,,\n", "'name' and 'Name '"),  # named columns are still checked
        (b"name,name,,\na,b,,\n", "duplicate column 'name'"),
        (b" , \na,b\n", "names no column"),
    ],
)
def test_header_errors_concern_named_columns(data: bytes, words: str) -> None:
    with pytest.raises(InputFileError, match=words) as caught:
        read_rows(io.BytesIO(data), "x.csv", SourceOptions())
    assert caught.value.line == 1
