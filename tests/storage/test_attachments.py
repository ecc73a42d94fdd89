"""Task attachments end to end: files in moto's S3, tasks in the emulator, both over HTTP.

`taskloader run` presigns each ``s3://`` attachment when it sends the row (SigV4, the TTL of
``--attachment-url-ttl``) and passes ``https://`` URLs as they are; the emulator keeps what it
received. The ledger, the result files and the logs hold file names and S3 locations only.
`taskloader validate --check-attachments` HEADs each S3 object.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.settings import load_settings
from tests.conftest import REGION, EmulatorHandle
from tests.run.conftest import FAST, FLOW, emulator_args, ledger_records, run_cli, write_csv

pytestmark = pytest.mark.usefixtures("emulator")

HTTPS = "https://files.example.com/photos/front.jpg"
COLUMNS = ("key", "name", "contact_flow_id", "attachment.claim.pdf", "attachment.front.jpg")


def signature_free(text: str) -> bool:
    return "X-Amz-Signature" not in text and "X-Amz-Credential" not in text


def run_settings(emulator: EmulatorHandle, ledger: Path, **flags: Any) -> Any:
    """Settings of a fast run against the session emulator, with its own ledger."""
    return load_settings(
        flags={**FAST, "region": REGION, "endpoint_url": emulator.url,
               "instance_id": emulator.instance_id, "ledger": str(ledger), **flags},
        environ={},
    )  # fmt: skip


def put(client: Any, bucket: str, key: str, body: bytes) -> str:
    client.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def test_run_presigns_s3_attachments_and_keeps_only_locations(
    client: Any, bucket: str, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    claim = put(client, bucket, "claims/17.pdf", b"%PDF claim 17")
    rows = [
        {"key": "a", "name": "Claim 17", "contact_flow_id": FLOW,
         "attachment.claim.pdf": claim, "attachment.front.jpg": HTTPS},
        {"key": "b", "name": "Claim 18", "contact_flow_id": FLOW,
         "attachment.claim.pdf": "", "attachment.front.jpg": ""},
    ]  # fmt: skip
    path = write_csv(tmp_path / "tasks.csv", rows, COLUMNS)
    ledger = tmp_path / "out" / "ledger.sqlite"

    code, proc = run_cli(
        [str(path), *emulator_args(emulator), "--ledger", str(ledger),
         "--attachment-url-ttl", "900"],
        tmp_path / "logs",
    )  # fmt: skip

    assert code == 0, proc.stderr_text()
    contacts = {c["Name"]: c for c in emulator.contacts()}
    assert contacts["Claim 18"]["Attachments"] == []
    sent = contacts["Claim 17"]["Attachments"]
    assert [a["FileName"] for a in sent] == ["claim.pdf", "front.jpg"]
    assert sent[1]["S3Url"] == HTTPS  # https:// passed through as written
    url = urlsplit(sent[0]["S3Url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == f"/{bucket}/claims/17.pdf"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, not SigV2's Signature=
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/s3/aws4_request")
    assert len(query["X-Amz-Signature"]) == 64
    with urllib.request.urlopen(sent[0]["S3Url"], timeout=10) as answer:  # the URL fetches it
        assert answer.read() == b"%PDF claim 17"

    # The emulator lists them as ATTACHMENT references of the task.
    listed = emulator_references(emulator, contacts["Claim 17"]["ContactId"])
    assert [s["Attachment"]["Name"] for s in listed] == ["claim.pdf", "front.jpg"]

    # The ledger keeps the row as read: file names (the columns) and the S3 location.
    raw = {r.key: r.raw for r in ledger_records(ledger)}
    assert raw["a"] is not None and raw["a"]["attachment.claim.pdf"] == claim
    stored = b"".join(p.read_bytes() for p in ledger.parent.rglob("*") if p.is_file())
    assert b"X-Amz-Signature" not in stored and b"X-Amz-Credential" not in stored
    logs = proc.stdout.read_text() + proc.stderr_text()
    assert signature_free(logs) and "run.summary" in logs


async def test_a_retried_row_resends_the_urls_of_its_first_attempt(
    client: Any,
    bucket: str,
    emulator: EmulatorHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Presigning happens once per row, after the pacer let its first attempt go: a retry
    resends the same URLs, the same request for its ClientToken. Here the first answer is lost
    (the emulator answers after the client's read timeout, having made the task): the retry is
    answered with that task, not refused as a token reused with other values."""
    from taskloader.run.pipeline import run_import

    claim = put(client, bucket, "claims/19.pdf", b"claim 19")
    row = {"key": "j", "name": "Claim 19", "contact_flow_id": FLOW,
           "attachments": [{"file_name": "claim.pdf", "url": claim}]}  # fmt: skip
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    emulator.configure(faults={"latency_ms": 1500.0})
    seen: list[str] = []

    settings = run_settings(emulator, tmp_path / "l.sqlite", read_timeout=1.0)

    import taskloader.run.attachments as attachments

    original = attachments.Attachments.presigned

    async def spy(self: Any, params: dict[str, Any]) -> dict[str, Any]:
        out = await original(self, params)
        seen.append(out["Attachments"][0]["S3Url"])
        # answers come in time again once the first attempt (and maybe its first retry) timed out
        timer = threading.Timer(2.5, lambda: emulator.configure(faults={"latency_ms": 0.0}))
        timers.append(timer)
        timer.start()
        return out

    timers: list[threading.Timer] = []
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(attachments.Attachments, "presigned", spy)
            report = await run_import(str(path), settings, tty=False)
    finally:
        for timer in timers:  # none may fire into the next test
            timer.cancel()
            timer.join()

    assert report.exit_code == 0, report
    assert len(seen) == 1  # signed once, sent twice
    [contact] = emulator.contacts()
    assert contact["Attachments"][0]["S3Url"] == seen[0]
    assert "X-Amz-Signature=" in seen[0]
    [record] = ledger_records(tmp_path / "l.sqlite")
    assert (record.status.value, record.contact_id) == ("succeeded", contact["ContactId"])
    assert record.attempts >= 2
    assert params_untouched(tmp_path / "l.sqlite", claim)
    logs = capsys.readouterr()
    assert signature_free(logs.out + logs.err)


async def test_a_row_with_attachments_sent_again_by_a_later_run_makes_nothing_new(
    client: Any, bucket: str, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A later run of the same batch (here: the ledger lost) signs the URLs anew, so Connect
    refuses the row's ClientToken as used with other values. The task exists: the row is
    succeeded, saying its contact id is not known, and no task is made twice."""
    from taskloader.run.pipeline import run_import

    claim = put(client, bucket, "claims/20.pdf", b"claim 20")
    rows = [
        {
            "key": f"k{n}",
            "name": f"Claim {n}",
            "contact_flow_id": FLOW,
            "attachment.claim.pdf": claim,
            "attachment.front.jpg": "",
        }
        for n in range(3)
    ]
    path = write_csv(tmp_path / "tasks.csv", rows, COLUMNS)

    first = run_settings(emulator, tmp_path / "first.sqlite")
    assert (await run_import(str(path), first, tty=False)).exit_code == 0
    await anyio.sleep(1.1)  # SigV4 signs to the second: a URL signed later is another URL
    again = await run_import(str(path), run_settings(emulator, tmp_path / "lost.sqlite"), tty=False)
    assert again.exit_code == 0
    assert len(emulator.contacts()) == 3
    records = ledger_records(tmp_path / "lost.sqlite")
    assert {r.status.value for r in records} == {"succeeded"}
    assert all((r.error_message or "").startswith("already made") for r in records)
    assert emulator.stats()["requests"]["StartTaskContact"] == {"200": 3, "409": 3}


def params_untouched(ledger: Path, location: str) -> bool:
    [record] = ledger_records(ledger)
    return record.raw is not None and record.raw["attachments"] == [
        {"file_name": "claim.pdf", "url": location}
    ]


def emulator_references(emulator: EmulatorHandle, contact_id: str) -> list[dict[str, Any]]:
    import boto3

    from tests.conftest import NO_RETRIES

    connect = boto3.client("connect", region_name=REGION, endpoint_url=emulator.url,
                           config=NO_RETRIES)  # fmt: skip
    answer = connect.list_contact_references(
        InstanceId=emulator.instance_id, ContactId=contact_id, ReferenceTypes=["ATTACHMENT"]
    )
    return list(answer["ReferenceSummaryList"])


def validate(path: Path, emulator: EmulatorHandle, *extra: str) -> tuple[int, dict[str, Any]]:
    args = ["validate", str(path), "--format", "json", *emulator_args(emulator), *extra]
    result = CliRunner().invoke(main, args)
    return result.exit_code, json.loads(result.stdout)


def test_validate_checks_s3_objects_only_when_asked(
    client: Any, bucket: str, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    present = put(client, bucket, "claims/20.pdf", b"claim 20")
    rows = [
        {"key": "ok", "name": "n", "contact_flow_id": FLOW,
         "attachment.claim.pdf": present, "attachment.front.jpg": HTTPS},
        {"key": "gone", "name": "n", "contact_flow_id": FLOW,
         "attachment.claim.pdf": f"s3://{bucket}/claims/missing.pdf", "attachment.front.jpg": ""},
        {"key": "nobucket", "name": "n", "contact_flow_id": FLOW,
         "attachment.claim.pdf": "s3://no-such-bucket-tl/a.pdf", "attachment.front.jpg": ""},
        {"key": "bad", "name": "n", "contact_flow_id": FLOW,
         "attachment.claim.pdf": "ftp://files.example.com/a.pdf", "attachment.front.jpg": ""},
    ]  # fmt: skip
    path = write_csv(tmp_path / "tasks.csv", rows, COLUMNS)

    code, summary = validate(path, emulator)  # off by default: no S3 request
    assert code == 1
    assert summary["invalid"] == 1 and set(summary["problems"]) == {"invalid_attachment_url"}

    report = tmp_path / "report.jsonl"
    code, summary = validate(path, emulator, "--check-attachments", "--report", str(report))
    assert code == 1
    assert summary["problems"]["attachment_not_found"] == {
        "count": 2, "first_rows": [2, 3], "field": "attachment.claim.pdf",
        "message": "no such S3 object",
    }  # fmt: skip
    assert summary["valid"] == 1
    problems = {
        r["key"]: [(p["code"], p["field"]) for p in r["taskloader.problems"]]
        for r in map(json.loads, report.read_text().splitlines())
    }
    assert problems["gone"] == [("attachment_not_found", "attachment.claim.pdf")]
    assert problems["bad"] == [("invalid_attachment_url", "attachment.claim.pdf")]
    assert emulator.stats()["requests"].get("StartTaskContact") is None  # a dry run


def test_validate_checks_a_jsonl_list_too(
    client: Any, bucket: str, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    present = put(client, bucket, "claims/21.pdf", b"claim 21")
    rows = [
        {"key": "ok", "name": "n", "contact_flow_id": FLOW,
         "attachments": [{"file_name": "a.pdf", "url": present}]},
        {"key": "six", "name": "n", "contact_flow_id": FLOW,
         "attachments": [{"file_name": f"{n}.pdf", "url": present} for n in range(6)]},
        {"key": "gone", "name": "n", "contact_flow_id": FLOW,
         "attachments": [{"file_name": "a.pdf", "url": f"s3://{bucket}/nope.pdf"}]},
    ]  # fmt: skip
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, summary = validate(path, emulator, "--check-attachments")
    assert code == 1
    assert set(summary["problems"]) == {"too_many_attachments", "attachment_not_found"}
    assert summary["problems"]["attachment_not_found"]["first_rows"] == [3]
