"""`ledger summary | export` of a ledger on S3 (moto over HTTP), and `export --out -`."""

import csv
import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from taskloader.cli import main
from taskloader.ledger.store import Ledger, RowOutcome, RowStatus


def upload_ledger(client: Any, bucket: str, key: str, tmp_path: Path) -> None:
    """A closed ledger of three rows (one each succeeded, failed, invalid), put at ``key``."""
    path = tmp_path / "made" / "ledger.sqlite"
    path.parent.mkdir()
    ledger = Ledger.open(
        path, batch_id="b-s3", input_name="in.csv", fingerprint=None, columns=("key", "name")
    )
    problems = json.dumps([{"code": "name_missing", "field": "name", "message": "no name"}])
    rows = [
        RowOutcome(1, 2, "a", "t1", RowStatus.SUCCEEDED, "c-1", raw={"key": "a", "name": "A"}),
        RowOutcome(2, 3, "b", "t2", RowStatus.FAILED, None, "Boom", "it broke", 3,
                   raw={"key": "b", "name": "=B"}),
        RowOutcome(3, 4, "c", None, RowStatus.INVALID, None, "name_missing", problems,
                   raw={"key": "c", "name": ""}),
    ]  # fmt: skip
    ledger.record(rows)
    ledger.close()
    client.upload_file(str(path), bucket, key)


def test_summary_of_an_s3_ledger_by_object_and_by_prefix(
    client: Any, bucket: str, tmp_path: Path
) -> None:
    upload_ledger(client, bucket, "nightly/ledger.sqlite", tmp_path)
    for location in (f"s3://{bucket}/nightly/ledger.sqlite", f"s3://{bucket}/nightly/"):
        result = CliRunner().invoke(main, ["ledger", "summary", location, "--format", "json"])
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        assert info["batch_id"] == "b-s3" and info["ledger"] == location
        assert info["counts"]["succeeded"] == info["counts"]["failed"] == 1


def test_export_of_an_s3_ledger_to_standard_output(
    client: Any, bucket: str, tmp_path: Path
) -> None:
    upload_ledger(client, bucket, "p/ledger.sqlite", tmp_path)
    args = ["ledger", "export", f"s3://{bucket}/p/ledger.sqlite", "--out", "-"]
    result = CliRunner().invoke(main, [*args, "--status", "failed", "--status", "invalid"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["key"], r["row"], r["line"], r["taskloader.status"]) for r in rows] == [
        ("b", "2", "3", "failed"), ("c", "3", "4", "invalid"),
    ]  # fmt: skip
    assert rows[0]["name"] == "'=B"  # neutralised on stdout too
    assert (rows[0]["taskloader.message"], rows[0]["taskloader.attempts"]) == ("it broke", "3")
    assert rows[1]["taskloader.message"] == "name: no name"
    assert "exported 2 rows to standard output" in result.stderr

    jsonl = CliRunner().invoke(main, [*args, "--status", "succeeded", "--format", "jsonl"])
    assert jsonl.exit_code == 0, jsonl.output
    (doc,) = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert doc["key"] == "a" and doc["taskloader.contact_id"] == "c-1"


def test_a_missing_s3_ledger_exits_2_naming_it(bucket: str) -> None:
    location = f"s3://{bucket}/nothing/ledger.sqlite"
    result = CliRunner().invoke(main, ["ledger", "summary", location])
    assert result.exit_code == 2
    assert location in result.stderr and "no such S3 object" in result.stderr
    assert "Traceback" not in result.output
