"""count_rows: the progress total of a run, counted beside it from a second read of the input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from taskloader.input.location import InputOptions, count_rows


def test_counts_csv_records_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    body = 'name,notes\n\nA,"two\nlines"\n\nB,x\n' + "".join(f"r{i},n\n" for i in range(9_000))
    path.write_text(body)
    assert count_rows(str(path), InputOptions()) == 9_002


def test_counts_gzip_and_jsonl(tmp_path: Path) -> None:
    packed = tmp_path / "rows.csv.gz"
    packed.write_bytes(gzip.compress(b"name\n" + b"x\n" * 5_000))
    assert count_rows(str(packed), InputOptions()) == 5_000
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"name": "a"}\n\n{"name": "b"}\n')
    assert count_rows(str(lines), InputOptions()) == 2


def test_no_count_for_stdin_s3_or_a_refused_file(tmp_path: Path) -> None:
    assert count_rows("-", InputOptions()) is None
    assert count_rows("s3://bucket/key.csv", InputOptions()) is None
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"name\nok\n\x00\n")
    assert count_rows(str(bad), InputOptions()) is None
    assert count_rows(str(tmp_path / "missing.csv"), InputOptions()) is None


def test_the_checkpoint_can_stop_the_count(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("name\n" + "x\n" * 20_000)
    calls: list[int] = []

    def stop() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stands in for the cancellation exception

    with pytest.raises(KeyboardInterrupt):
        count_rows(str(path), InputOptions(), stop)
    assert len(calls) == 2
