"""`run` with input and out-dir on S3 (moto over HTTP) and Connect on the emulator."""

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from taskloader.errors import LedgerLockedError, LedgerMismatchError
from taskloader.run.options import aws_options
from taskloader.run.pipeline import run_import
from taskloader.settings import Settings, load_settings
from taskloader.storage.s3 import S3Url
from taskloader.storage.s3_dir import open_s3_out_dir

CALLBACK = json.loads(
    (Path(__file__).parents[2] / "config" / "templates" / "callback.json").read_text()
)


def create_callback_template(connect_client: Any, instance_id: str) -> None:
    connect_client.create_task_template(
        InstanceId=instance_id,
        **{k: v for k, v in CALLBACK.items() if k not in {"Id", "Arn"}},
    )


def csv_bytes(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["key", "template", "name", "Customer name", "Account number"])
    for n in range(1, rows + 1):
        writer.writerow([f"k{n}", "Callback", f"Call {n}", f"Person {n}", str(1000 + n)])
    writer.writerow(["bad", "Callback", "Broken", "", "not-a-number"])
    return out.getvalue().encode()


def run_settings(emulator: Any, out: S3Url) -> Settings:
    return load_settings(
        environ={},
        flags={
            "endpoint_url": emulator.url,
            "instance_id": emulator.instance_id,
            "region": "us-east-1",
            "rate": 500.0,
            "burst": 50,
            "out_dir": str(out),
            "progress_interval": 60.0,
        },
    )


async def test_s3_input_and_out_dir_resume_with_the_same_tokens(
    emulator: Any, connect_client: Any, client: Any, bucket: str, out: S3Url, tmp_path: Path
) -> None:
    """Results and ledger land on S3; a second run resumes from the S3 ledger, sending nothing."""
    create_callback_template(connect_client, emulator.instance_id)
    client.put_object(Bucket=bucket, Key="in/callbacks.csv", Body=csv_bytes(20))
    location = f"s3://{bucket}/in/callbacks.csv"
    settings = run_settings(emulator, out)

    first = await run_import(location, settings, tty=False)
    assert first.exit_code == 1  # one invalid row
    assert first.counts["succeeded"] == 20 and first.counts["invalid"] == 1
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    for name in ("ledger.sqlite", "succeeded.csv", "invalid.csv", "summary.json"):
        assert f"nightly/run/{name}" in keys
    assert "nightly/run/ledger.lock" not in keys  # released at exit
    body = client.get_object(Bucket=bucket, Key="nightly/run/succeeded.csv")["Body"].read()
    assert body.decode().count("\n") == 21  # header + 20 rows

    # The uploaded ledger is a complete SQLite database on its own.
    assert first.ledger == f"s3://{bucket}/nightly/run/ledger.sqlite"
    snapshot = tmp_path / "check.sqlite"
    snapshot.write_bytes(
        client.get_object(Bucket=bucket, Key="nightly/run/ledger.sqlite")["Body"].read()
    )
    with sqlite3.connect(snapshot) as db:
        assert db.execute("select count(*) from records").fetchone()[0] == 21

    second = await run_import(location, settings, tty=False)
    assert second.batch_id == first.batch_id
    # Succeeded rows are skipped; the invalid row is checked again (and is still invalid).
    assert second.stats["skipped"] == 20 and second.stats["requests"] == 0
    assert second.stats["invalid"] == 1
    assert emulator.stats()["contacts_created"] == 20

    # The object replaced (tomorrow's file under the same key): refused, naming the S3 ledger
    # (not the local copy it was opened from) and the setting a job without flags can give.
    client.put_object(Bucket=bucket, Key="in/callbacks.csv", Body=csv_bytes(22))
    with pytest.raises(LedgerMismatchError) as changed:
        await run_import(location, settings, tty=False)
    assert str(changed.value).startswith(f"ledger s3://{bucket}/nightly/run/ledger.sqlite:")
    assert "TASKLOADER_FORCE=true" in str(changed.value)


async def test_a_live_s3_lock_refuses_a_second_run(
    emulator: Any, client: Any, bucket: str, out: S3Url, tmp_path: Path
) -> None:
    """While one run holds the S3 prefix, another run on it stops with LedgerLockedError."""
    client.put_object(Bucket=bucket, Key="in/x.csv", Body=csv_bytes(1))
    settings = run_settings(emulator, out)
    async with open_s3_out_dir(str(out), aws_options(settings), tmp_path):
        with pytest.raises(LedgerLockedError) as info:
            await run_import(f"s3://{bucket}/in/x.csv", settings, tty=False)
    assert info.value.exit_code == 2
    assert emulator.stats()["contacts_created"] == 0


async def test_verify_with_an_s3_out_dir_uploads_its_own_result_files(
    emulator: Any, client: Any, bucket: str, out: S3Url, tmp_path: Path
) -> None:
    """`contacts verify` with `--out-dir s3://`: verified.csv lands beside the ledger on S3."""
    from taskloader.run.contact_ops import OPERATIONS
    from taskloader.run.contact_rows import ContactSource
    from taskloader.run.contacts import run_contacts
    from tests.run.conftest import task_rows, write_csv

    local = load_settings(
        environ={},
        flags={
            "endpoint_url": emulator.url, "instance_id": emulator.instance_id,
            "region": "us-east-1", "rate": 500.0, "burst": 50,
            "ledger": str(tmp_path / "import" / "ledger.sqlite"),
        },
    )  # fmt: skip
    imported = await run_import(str(write_csv(tmp_path / "t.csv", task_rows(5))), local)
    assert imported.exit_code == 0
    report = await run_contacts(
        OPERATIONS["verify"], ContactSource(from_ledger=imported.ledger),
        run_settings(emulator, out), pace=(200.0, 20), tty=False,
    )  # fmt: skip
    assert report.exit_code == 0 and report.counts["succeeded"] == 5
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"{out.key}verified.csv" in keys
    body = client.get_object(Bucket=bucket, Key=f"{out.key}verified.csv")["Body"].read()
    assert body.decode().count("\n") == 6  # header + 5 contacts
