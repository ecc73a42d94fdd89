"""An S3 prefix as the output directory: lock, ledger download, checkpoints, result files."""

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from taskloader.aws import AwsOptions
from taskloader.errors import LedgerError, LedgerLockedError
from taskloader.storage.s3 import S3Url
from taskloader.storage.s3_dir import RESULT_FILES, open_s3_out_dir


def make_db(path: Path, rows: int) -> Path:
    """A one-file SQLite database standing in for a ledger snapshot."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS r (n INTEGER)")
        db.executemany("INSERT INTO r VALUES (?)", [(i,) for i in range(rows)])
    db.close()
    return path


def count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM r").fetchone()[0])
    finally:
        db.close()


def keys(client: Any, prefix: S3Url) -> set[str]:
    listing = client.list_objects_v2(Bucket=prefix.bucket, Prefix=prefix.key)
    return {o["Key"][len(prefix.key) :] for o in listing.get("Contents", [])}


async def test_a_restarted_run_downloads_the_last_checkpoint(
    client: Any, out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    async with open_s3_out_dir(str(out), aws, first) as ws:
        assert not ws.ledger_path.exists()  # nothing to resume yet
        assert keys(client, out) == {"ledger.lock"}
        make_db(ws.ledger_path, 3)
        await ws.checkpoint(make_db(ws.snapshot_path, 3))
    assert keys(client, out) == {"ledger.sqlite"}  # the lock is gone, the checkpoint stays

    Path(f"{second / 'ledger.sqlite'}-wal").write_bytes(b"stale")  # a leftover is discarded
    async with open_s3_out_dir(str(out).rstrip("/"), aws, second) as ws:
        assert ws.ledger_path == second / "ledger.sqlite"
        assert count(ws.ledger_path) == 3
        assert not Path(f"{ws.ledger_path}-wal").exists()


async def test_a_second_run_on_the_same_prefix_is_refused_with_exit_code_2(
    out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    async with open_s3_out_dir(str(out), aws, tmp_path) as ws:
        assert ws.prefix == out
        with pytest.raises(LedgerLockedError) as err:
            async with open_s3_out_dir(str(out), aws, tmp_path / "other"):
                pytest.fail("two runs hold the same out-dir")
    assert err.value.path == str(out.join("ledger.sqlite"))
    assert "another run holds it" in str(err.value) and err.value.exit_code == 2


async def test_periodic_checkpoints_upload_fresh_snapshots_until_cancelled(
    client: Any, out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    snapshots = 0
    two_done = anyio.Event()

    def snapshot() -> Path:
        nonlocal snapshots
        snapshots += 1
        if snapshots == 3:
            two_done.set()  # the third snapshot starts after two uploads finished
        return make_db(tmp_path / "snap.sqlite", 1)

    async with (
        open_s3_out_dir(str(out), aws, tmp_path) as ws,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(ws.run_checkpoints, 0.01, snapshot)
        with anyio.fail_after(10):
            await two_done.wait()
        tg.cancel_scope.cancel()
    body = client.get_object(Bucket=out.bucket, Key=out.join("ledger.sqlite").key)["Body"]
    (tmp_path / "down.sqlite").write_bytes(body.read())
    assert count(tmp_path / "down.sqlite") >= 2


async def test_a_failing_periodic_checkpoint_is_logged_and_retried(
    out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    calls = 0
    recovered = anyio.Event()

    def snapshot() -> Path:
        nonlocal calls
        calls += 1
        if calls == 1:
            return tmp_path / "missing.sqlite"  # the upload of a missing file fails
        recovered.set()
        return make_db(tmp_path / "snap.sqlite", 1)

    with capture_logs() as logs:
        async with (
            open_s3_out_dir(str(out), aws, tmp_path) as ws,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(ws.run_checkpoints, 0.01, snapshot)
            with anyio.fail_after(10):
                await recovered.wait()
            tg.cancel_scope.cancel()
    failed = [e for e in logs if e["event"] == "s3.checkpoint_failed"]
    assert len(failed) == 1 and "missing.sqlite" in failed[0]["error"]


async def test_the_result_files_present_are_uploaded_with_content_types(
    client: Any, out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "succeeded.csv").write_text("id,contact_id\n1,c-1\n")
    (results / "summary.json").write_text('{"succeeded": 1}')
    (results / "notes.txt").write_text("not a result file")

    async with open_s3_out_dir(str(out), aws, tmp_path) as ws:
        uploaded = await ws.upload_results(results)

    assert [u.name for u in uploaded] == ["succeeded.csv", "summary.json"]
    assert keys(client, out) == {"succeeded.csv", "summary.json"}
    head = client.head_object(Bucket=out.bucket, Key=out.join("summary.json").key)
    assert head["ContentType"] == "application/json"
    body = client.get_object(Bucket=out.bucket, Key=out.join("succeeded.csv").key)["Body"]
    assert body.read() == b"id,contact_id\n1,c-1\n"
    assert set(RESULT_FILES) >= {"succeeded.csv", "failed.csv", "invalid.csv", "unprocessed.csv"}


async def test_nothing_is_uploaded_once_the_lock_is_lost(
    client: Any, out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    messages: list[str] = []
    async with open_s3_out_dir(
        str(out), aws, tmp_path, lock_ttl=0.04, on_lock_lost=messages.append
    ) as ws:
        lock = out.join("ledger.lock")
        client.put_object(Bucket=out.bucket, Key=lock.key, Body=b'{"owner": "other"}')
        with anyio.fail_after(10):
            while not messages:
                await anyio.sleep(0.01)
        with pytest.raises(LedgerLockedError, match="lock lost"):
            await ws.checkpoint(make_db(ws.snapshot_path, 1))
    assert keys(client, out) == {"ledger.lock"}


async def test_an_absent_bucket_is_a_ledger_error_before_anything_runs(
    aws: AwsOptions, tmp_path: Path
) -> None:
    with pytest.raises(LedgerError, match="NoSuchBucket") as err:
        async with open_s3_out_dir("s3://tl-no-such-bucket/out/", aws, tmp_path):
            pytest.fail("opened an out-dir in a missing bucket")
    assert err.value.exit_code == 2


async def test_without_an_s3_ledger_the_local_directory_is_left_alone(
    out: S3Url, aws: AwsOptions, tmp_path: Path
) -> None:
    make_db(tmp_path / "ledger.sqlite", 2)
    async with open_s3_out_dir(str(out), aws, tmp_path) as ws:
        assert await ws.download_ledger() is False
        assert count(ws.ledger_path) == 2
