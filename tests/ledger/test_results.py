"""Result files: input order, columns, formula neutralisation, re-feedable unprocessed.csv."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskloader.ledger.results import (
    RunStats,
    export_records,
    neutralise,
    result_names,
    write_results,
)
from taskloader.ledger.store import Ledger, LedgerReader

from .conftest import COLUMNS, OpenLedger, outcome

#: What follows the input's columns in every outcome file (mapping.outcome).
TAIL = ["row", "line", "taskloader.status", "taskloader.error_code", "taskloader.message",
        "taskloader.contact_id", "taskloader.attempts", "taskloader.batch_id"]  # fmt: skip


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture
def finished(open_ledger: OpenLedger) -> Ledger:
    """Twelve rows, recorded out of order, in every status."""
    ledger = open_ledger()
    plan = {
        1: "succeeded", 2: "failed", 3: "invalid", 4: "pending", 5: "unprocessed",
        6: "succeeded", 7: "succeeded", 8: "failed", 9: "unprocessed", 10: "invalid",
        11: "pending", 12: "succeeded",
    }  # fmt: skip
    for n in [12, 3, 7, 1, 9, 5, 11, 2, 8, 10, 4, 6]:
        extra = {}
        if plan[n] == "succeeded":
            extra = {"contact_id": f"c-{n}"}
        elif plan[n] in ("failed", "invalid"):
            extra = {"error_code": f"E{n}", "error_message": f"bad {n}"}
        ledger.record([outcome(n, plan[n], **extra)])
    return ledger


def test_each_file_holds_its_rows_in_input_order(finished: Ledger, tmp_path: Path) -> None:
    files = write_results(finished, tmp_path / "out")
    ok = read_csv(files.succeeded)
    assert ok[0] == [*COLUMNS, *TAIL]
    assert [r[0] for r in ok[1:]] == ["k1", "k6", "k7", "k12"]
    batch = finished.batch_id
    assert ok[1][3:] == ["1", "2", "succeeded", "", "", "c-1", "0", batch]
    failed, invalid = read_csv(files.failed), read_csv(files.invalid)
    assert failed[0] == invalid[0] == ok[0]
    assert failed[1:] == [
        ["k2", "name 2", "'+15550002", "2", "3", "failed", "E2", "bad 2", "", "0", batch],
        ["k8", "name 8", "'+15550008", "8", "9", "failed", "E8", "bad 8", "", "0", batch],
    ]
    assert [r[0] for r in invalid[1:]] == ["k3", "k10"]
    unprocessed = read_csv(files.unprocessed)
    # the input's columns, and the batch the rows belong to (fed back, they are sent in it)
    assert unprocessed[0] == [*COLUMNS, "taskloader.batch_id"]
    assert {r[-1] for r in unprocessed[1:]} == {batch}
    assert [r[0] for r in unprocessed[1:]] == ["k4", "k5", "k9", "k11"]  # pending + unprocessed
    assert files.counts["succeeded"] == 4 and files.counts["pending"] == 2
    # Named after the ledger (run.ledger): run.succeeded.csv, ...
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "run.failed.csv", "run.invalid.csv", "run.succeeded.csv", "run.summary.json",
        "run.unprocessed.csv",
    ]  # fmt: skip


def test_unprocessed_csv_is_the_original_rows_verbatim(finished: Ledger, tmp_path: Path) -> None:
    """Feeding unprocessed.csv back in must send the same values: no quote prefixes there."""
    files = write_results(finished, tmp_path)
    with files.unprocessed.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    stored = {r.number: r.raw for r in finished.iter_records(["pending", "unprocessed"])}
    batch = {"taskloader.batch_id": finished.batch_id}
    assert rows == [{**stored[n], **batch} for n in sorted(stored)]
    assert rows[0]["phone"] == "+15550004"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1555", "'+1555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_report_files_neutralise_formulas_in_every_column(
    open_ledger: OpenLedger, tmp_path: Path
) -> None:
    ledger = open_ledger()
    raw = {"key": "=cmd|' /C calc'!A0", "name": "@x", "phone": "-1"}
    ledger.record([outcome(1, "succeeded", raw=raw, contact_id="c1")])
    ledger.record([outcome(2, "invalid", raw=raw, error_code="E", error_message="=bad")])
    files = write_results(ledger, tmp_path)
    assert read_csv(files.succeeded)[1][:3] == ["'=cmd|' /C calc'!A0", "'@x", "'-1"]
    assert read_csv(files.succeeded)[1][8] == "c1"
    invalid = read_csv(files.invalid)[1]
    assert invalid[:3] == ["'=cmd|' /C calc'!A0", "'@x", "'-1"]
    assert invalid[5:8] == ["invalid", "E", "'=bad"]


def test_summary_json_has_counts_and_the_run_stats(finished: Ledger, tmp_path: Path) -> None:
    stats = RunStats(
        duration_s=12.5, achieved_rate=1.9, throttles=3, retries=4,
        latency_ms={"p50": 80.0, "p99": 310.0},
    )  # fmt: skip
    files = write_results(finished, tmp_path, stats=stats)
    summary = json.loads(files.summary.read_text())
    assert summary["counts"] == {
        "pending": 2, "succeeded": 4, "failed": 2, "invalid": 2, "unprocessed": 2,
    }  # fmt: skip
    assert summary["total"] == 12
    assert summary["batch_id"] == finished.batch_id
    assert summary["stats"] == {
        "duration_s": 12.5, "achieved_rate": 1.9, "throttles": 3, "retries": 4,
        "latency_ms": {"p50": 80.0, "p99": 310.0},
    }  # fmt: skip
    assert summary["files"]["unprocessed"] == "run.unprocessed.csv"
    again = write_results(finished, tmp_path, stats={"duration_s": 1, "custom": "x"})
    assert json.loads(again.summary.read_text())["stats"] == {"duration_s": 1, "custom": "x"}


def test_jsonl_inputs_use_the_union_of_keys_in_first_seen_order(
    open_ledger: OpenLedger, tmp_path: Path
) -> None:
    ledger = open_ledger(columns=[])
    ledger.record([outcome(2, "succeeded", raw={"b": 2, "c": {"x": [1, 2]}}, contact_id="c2")])
    ledger.record([outcome(1, "succeeded", raw={"a": "1", "b": None}, contact_id="c1")])
    ledger.record([outcome(3, "pending", raw={"d": True, "a": "3"})])
    files = write_results(ledger, tmp_path)
    batch = ledger.batch_id
    assert read_csv(files.succeeded) == [
        ["a", "b", "c", "d", *TAIL],
        ["1", "", "", "", "1", "2", "succeeded", "", "", "c1", "0", batch],
        ["", "2", '{"x": [1, 2]}', "", "2", "3", "succeeded", "", "", "c2", "0", batch],
    ]
    # a JSONL input's rows left are JSONL, their values' types kept (fed back, a row keeps
    # the content key its input gave it)
    assert files.unprocessed is not None and files.unprocessed.suffix == ".jsonl"
    assert [json.loads(x) for x in files.unprocessed.read_text().splitlines()] == [
        {"d": True, "a": "3", "taskloader.batch_id": batch}
    ]


def test_result_files_are_replaced_atomically(finished: Ledger, tmp_path: Path) -> None:
    (tmp_path / "run.succeeded.csv").write_text("old content that must go\n")
    write_results(finished, tmp_path)
    assert "old content" not in (tmp_path / "run.succeeded.csv").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_csv_and_jsonl(finished: Ledger, tmp_path: Path) -> None:
    with LedgerReader.open_readonly(finished.path) as reader:
        n = export_records(reader, ["failed", "invalid"], tmp_path / "bad.csv")
        rows = read_csv(tmp_path / "bad.csv")
        assert n == 4
        assert rows[0] == [*COLUMNS, *TAIL]
        assert [r[0] for r in rows[1:]] == ["k2", "k3", "k8", "k10"]
        assert export_records(reader, ["succeeded"], tmp_path / "ok.jsonl") == 4
        lines = [json.loads(x) for x in (tmp_path / "ok.jsonl").read_text().splitlines()]
        assert [d["row"] for d in lines] == [1, 6, 7, 12]
        assert lines[0] == {
            "key": "k1", "name": "name 1", "phone": "+15550001", "row": 1, "line": 2,
            "taskloader.status": "succeeded", "taskloader.error_code": "",
            "taskloader.message": "", "taskloader.contact_id": "c-1", "taskloader.attempts": 0,
            "taskloader.batch_id": reader.batch_id,
        }  # fmt: skip
        assert list(lines[0])[:5] == ["key", "name", "phone", "row", "line"]
        with pytest.raises(ValueError, match="format"):
            export_records(reader, ["failed"], tmp_path / "bad.xlsx")


def test_rows_left_can_be_counted_without_being_listed(finished: Ledger, tmp_path: Path) -> None:
    """A run stopped with a million rows left writes the done rows and counts the rest."""
    out = tmp_path / "out"
    write_results(finished, out)  # an earlier, complete listing
    files = write_results(finished, out, list_left=False)
    assert files.unprocessed is None
    assert not (out / "run.unprocessed.csv").exists()  # a stale list would mislead
    assert [r[0] for r in read_csv(files.succeeded)[1:]] == ["k1", "k6", "k7", "k12"]
    summary = json.loads(files.summary.read_text())
    assert summary["counts"] == finished.counts()
    assert summary["counts"]["pending"] == 2 and summary["counts"]["unprocessed"] == 2
    assert "unprocessed" not in summary["files"]
    assert "taskloader ledger export" in summary["unprocessed_rows"]


@pytest.mark.parametrize(
    ("ledger", "succeeded", "summary"),
    [
        ("ledger.sqlite", "succeeded.csv", "summary.json"),
        ("callbacks.ledger.sqlite", "callbacks.succeeded.csv", "callbacks.summary.json"),
        ("daily.2026-06-01.db", "daily.2026-06-01.succeeded.csv", "daily.2026-06-01.summary.json"),
    ],
)  # fmt: skip
def test_result_files_are_named_after_the_ledger(ledger: str, succeeded: str, summary: str) -> None:
    names = result_names(Path("/x") / ledger)
    assert (names["succeeded"], names["summary"]) == (succeeded, summary)


def test_two_imports_in_one_folder_keep_their_own_results(tmp_path: Path) -> None:
    """Two ledgers with results in one folder; and two ledgers of one name writing to one
    --out-dir: no file of one import is overwritten by the other."""
    out = tmp_path / "results"
    written = []
    for name, key in (("a/ledger.sqlite", "a"), ("b/ledger.sqlite", "b"), ("c.sqlite", "c")):
        ledger = Ledger.open(
            tmp_path / name, batch_id=None, input_name=f"{key}.csv", fingerprint=None,
            columns=COLUMNS,
        )  # fmt: skip
        ledger.record([outcome(1, "succeeded", key=key, raw={"key": key}, contact_id=key)])
        written.append(write_results(ledger, out))
        ledger.close()
    paths = [f.succeeded for f in written] + [f.summary for f in written]
    assert len(set(paths)) == 6
    for files, key in zip(written, "abc", strict=True):
        assert read_csv(files.succeeded)[1][0] == key
        assert json.loads(files.summary.read_text())["input"] == f"{key}.csv"
    assert written[0].summary.name == "summary.json"  # the first keeps the plain names
    assert written[2].summary.name == "c.summary.json"


def test_stale_temporary_files_of_a_killed_writer_are_removed(
    finished: Ledger, tmp_path: Path
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    leftovers = [tmp_path / f".run.{kind}.{pid}.tmp" for kind in ("succeeded.csv", "summary.json")]
    alive = tmp_path / f".run.failed.csv.{os.getppid()}.tmp"  # a live process's: kept
    for path in [*leftovers, alive]:
        path.write_text("half a file")
    write_results(finished, tmp_path)
    assert not any(p.exists() for p in leftovers)
    assert alive.exists()


def test_jsonl_export_of_an_infinite_number_is_json(
    open_ledger: OpenLedger, tmp_path: Path
) -> None:
    """A JSONL row holding 1e400 (parsed as inf) is exported as the JSON number 1e400, not the
    non-JSON token Infinity."""
    raw = json.loads('{"key": "k1", "big": 1e400, "neg": -1e400, "nested": {"x": [1e400]}}')
    ledger = open_ledger(columns=())
    ledger.record([outcome(1, "succeeded", raw=raw, contact_id="c1")])
    out = tmp_path / "ok.jsonl"
    export_records(ledger, ["succeeded"], out)
    text = out.read_text()
    assert "Infinity" not in text
    document = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert document["big"] == float("inf") and document["neg"] == float("-inf")
    assert document["nested"] == {"x": [float("inf")]}
    files = write_results(ledger, tmp_path / "res")
    assert read_csv(files.succeeded)[1][:2] == ["k1", "1e400"]
