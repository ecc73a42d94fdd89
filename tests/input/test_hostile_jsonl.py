"""Hostile JSONL found by the reliability corpus: each gets a clear outcome, never a crash."""

import io
from pathlib import Path

import pytest

from taskloader.errors import InputFileError
from taskloader.input.readers import Row, SourceOptions, read_rows
from taskloader.ledger.results import write_results
from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.mapping.mapper import Mapper

from .helpers import template


def rows_of(text: str) -> list[Row]:
    return list(read_rows(io.BytesIO(text.encode()), "x.jsonl", SourceOptions()))


@pytest.mark.parametrize(
    "line",
    ['{"n": ' + "9" * 5000 + "}", '{"n": NaN}', '{"n": -Infinity}'],
    ids=["huge-integer", "nan", "infinity"],
)
def test_numbers_json_cannot_carry_are_file_errors_naming_the_line(line: str) -> None:
    """Python-only JSON numbers are refused as invalid JSON (exit 2), not a traceback."""
    with pytest.raises(InputFileError) as info:
        rows_of('{"ok": 1}\n' + line + "\n")
    assert info.value.line == 2
    assert "not valid JSON" in str(info.value)


def test_a_lone_surrogate_makes_the_row_invalid_and_still_fits_the_ledger(tmp_path: Path) -> None:
    """The row is flagged invalid_text; the lone surrogate is kept as U+FFFD, so the row can
    still be mapped (its content key), stored and written."""
    good, bad = rows_of('{"name": "ok"}\n{"name": "\\ud800"}\n')
    assert good.problems == ()
    assert [code for code, _ in bad.problems] == ["invalid_text"]
    with Ledger.open(tmp_path / "l.sqlite", batch_id="b", input_name="x", fingerprint=None,
                     columns=[]) as ledger:  # fmt: skip
        ledger.record([
            RowOutcome(bad.number, bad.line, "k", "t", RowStatus.INVALID, raw=bad.values),
        ])  # fmt: skip
        (record,) = list(ledger.iter_records())
        files = write_results(ledger, tmp_path / "out")
    assert record.raw == {"name": "\ufffd"}
    assert "\ufffd" in files.invalid.read_text(encoding="utf-8")
    assert Mapper().map_row(bad, template()).request.key  # mapped, not a UnicodeEncodeError


def test_nested_sections_that_are_not_objects_are_row_problems() -> None:
    """`fields: "text"` is reported, not silently dropped."""
    (row,) = rows_of('{"name": "n", "fields": "not an object", "attributes": {"a": "1"}}\n')
    mapped = Mapper().map_row(row, template())
    assert [(p.code, p.field) for p in mapped.problems] == [("invalid_value", "fields")]
    assert mapped.request.params["Attributes"] == {"a": "1"}
