"""The real-world corpus through `taskloader validate`, end to end (offline templates): each
file's expected outcome, exit code and message. See ``realworld/README.md`` for the files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.examples import TEMPLATES_DIR

CORPUS = Path(__file__).parent / "realworld"

#: Arguments that make a file's dates readable.
EUROPEAN = ["--date-format", "DD/MM/YYYY HH:mm", "--timezone", "Europe/Berlin"]
US = ["--date-format", "MM/DD/YYYY h:mm AM/PM", "--timezone", "America/New_York"]

# (file, extra arguments) -> (exit code, rows, valid, {problem code: count}, unknown columns)
SUMMARIES: dict[tuple[str, tuple[str, ...]], tuple[int, int, int, dict[str, int], list[str]]] = {
    ("excel_european.csv", tuple(EUROPEAN)): (0, 3, 3, {}, []),
    ("excel_european.csv", ()): (1, 3, 0, {"invalid_date_time": 3}, []),
    ("excel_trailing_columns.csv", tuple(EUROPEAN)): (0, 3, 3, {}, []),  # no '' column
    ("excel_windows_cp1252.csv", ("--encoding", "cp1252")): (0, 2, 2, {}, []),
    ("excel_windows_cp1252.csv", ("--encoding", "windows-1252")): (0, 2, 2, {}, []),
    ("excel_unicode_text.txt", ()): (0, 2, 2, {}, []),
    ("excel_unicode_text.txt", ("--encoding", "cp1252")): (0, 2, 2, {}, []),  # the BOM wins
    ("crm_export.tsv", tuple(US)): (0, 2, 2, {}, []),
    ("crm_export.tsv", ("--delimiter", "\\t", *US)): (0, 2, 2, {}, []),
    ("crm_export.tsv", ()): (1, 2, 0, {"invalid_date_time": 2}, []),
    ("comma_only_rows.csv", ()): (0, 2, 2, {}, []),
    ("local_times.csv", ("--timezone", "Europe/Paris")): (0, 3, 3, {}, []),
    ("local_times.csv", ()): (1, 3, 0, {"invalid_date_time": 3}, []),
    ("epoch_times.csv", ()): (0, 2, 2, {}, []),
    ("misspelt_column.csv", ()): (1, 1, 0, {"required_field_missing": 1}, ["Custmer name"]),
}

# (file, extra arguments) -> words of the one file-level error (exit 2)
ERRORS: dict[tuple[str, tuple[str, ...]], list[str]] = {
    ("excel_windows_cp1252.csv", ()): ["line 2", "not UTF-8", "--encoding cp1252"],
    ("excel_european.csv", ("--delimiter", "comma")): ["no known column", "semicolon"],
    ("no_header.csv", ()): ["looks like data", "not shown", "header row"],
    ("header_collision.csv", ()): ["line 1", "'name' and 'Name '"],
    ("crm_export.tsv", ("--timezone", "Mars/Olympus")): ["IANA"],
    ("epoch_times.csv", ("--date-format", "HH:mm")): ["no day"],
}


#: Files of conventional columns (a flow of their own), read without a template.
NO_TEMPLATE = {"comma_only_rows.csv"}


def validate(name: str, *args: str) -> Any:
    argv = ["validate", str(CORPUS / name), "--templates", str(TEMPLATES_DIR), *args]
    if name not in NO_TEMPLATE:
        argv += ["--template", "Callback"]
    return CliRunner().invoke(main, [*argv, "--format", "json", "--log-level", "warning"])


def test_every_corpus_file_has_an_expected_outcome() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.name != "README.md"}
    covered = {name for name, _ in SUMMARIES} | {name for name, _ in ERRORS}
    assert files == covered


@pytest.mark.parametrize(("name", "args"), list(SUMMARIES))
def test_validate_reads_each_file_as_expected(name: str, args: tuple[str, ...]) -> None:
    code, rows, valid, problems, unknown = SUMMARIES[name, args]
    result = validate(name, *args)
    assert result.exit_code == code, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["valid"]) == (rows, valid)
    assert {c: p["count"] for c, p in summary["problems"].items()} == problems
    assert summary["unknown_columns"] == unknown
    if name == "misspelt_column.csv":
        assert summary["did_you_mean"] == {"Custmer name": "Customer name"}


@pytest.mark.parametrize(("name", "args"), list(ERRORS))
def test_a_file_level_problem_is_one_clear_error(name: str, args: tuple[str, ...]) -> None:
    result = validate(name, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for words in ERRORS[name, args]:
        assert words in result.stderr


def test_a_file_without_a_header_row_shows_none_of_its_values() -> None:
    argv = ["validate", str(CORPUS / "no_header.csv"), "--templates", str(TEMPLATES_DIR)]
    result = CliRunner().invoke(main, [*argv, "--template", "Callback", "--log-level", "debug"])
    first_row = (CORPUS / "no_header.csv").read_text().splitlines()[0].split(",")
    assert result.exit_code == 2
    assert not [value for value in first_row if value in result.output]


def test_no_header_row_is_refused_even_when_the_template_is_unknown() -> None:
    argv = ["validate", str(CORPUS / "no_header.csv"), "--templates", str(TEMPLATES_DIR)]
    result = CliRunner().invoke(main, [*argv, "--template", "Nope", "--log-level", "debug"])
    assert result.exit_code == 2
    assert "looks like data" in result.stderr
    assert "Jia" not in result.output


def test_a_misspelt_column_gets_a_did_you_mean_in_the_text_summary() -> None:
    argv = ["validate", str(CORPUS / "misspelt_column.csv"), "--templates", str(TEMPLATES_DIR)]
    result = CliRunner().invoke(main, [*argv, "--template", "Callback", "--log-level", "error"])
    assert "'Custmer name' (did you mean 'Customer name'?)" in result.stdout


def test_a_value_under_an_unnamed_column_is_one_note_naming_its_position(tmp_path: Path) -> None:
    """The Excel file with values typed under its unnamed columns: one note for the file, by
    position, never the values; a row holding values only there is a row, and invalid."""
    text = (CORPUS / "excel_trailing_columns.csv").read_text(encoding="utf-8-sig").splitlines()
    text[1] = text[1].removesuffix(";;") + ";secret-1;"
    text[3] = text[3].removesuffix(";;") + ";secret-2;secret-3"
    text.append(";;;;;;secret-4;")
    path = tmp_path / "typed.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    argv = ["validate", str(path), "--templates", str(TEMPLATES_DIR), "--template", "Callback"]
    result = CliRunner().invoke(main, [*argv, *EUROPEAN, "--log-level", "warning"])
    assert result.exit_code == 1, result.output
    assert f"{path}: 4 rows, 3 valid, 1 invalid" in result.stdout
    assert "name_missing: 1 row (first: 4)" in result.stdout
    assert result.output.count("input.unnamed_columns_ignored") == 1  # a log line
    assert "positions 7, 8" in result.output
    assert "unknown columns" not in result.output
    assert "secret" not in result.output


def test_the_report_neutralises_formula_cells_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "formula_header.csv"
    path.write_text('name,=HYPERLINK("http://x"),@cmd\n,a,b\n', encoding="utf-8")
    report = tmp_path / "report.csv"
    result = CliRunner().invoke(
        main,
        ["validate", str(path), "--templates", str(TEMPLATES_DIR), "--report", str(report)],
    )
    assert result.exit_code == 1, result.output
    with report.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[0] == "name"
    assert all(not cell.startswith(("=", "@", "+", "-")) for cell in header)


def test_a_header_read_in_the_wrong_encoding_says_so(tmp_path: Path) -> None:
    path = tmp_path / "accents.csv"
    path.write_bytes("Numéro,Prénom\n1,Zoé\n".encode())  # UTF-8, read as cp1252 below
    argv = ["validate", str(path), "--templates", str(TEMPLATES_DIR), "--encoding", "cp1252"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2
    assert "mis-decoded (read as cp1252)" in result.stderr
    assert "--encoding" in result.stderr
