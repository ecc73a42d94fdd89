"""An S3 prefix as the output directory of a run (``--out-dir s3://bucket/prefix/``).

The run itself works on a local SQLite ledger in a scratch directory; S3 holds its durable
copies::

    <prefix>ledger.lock      the overlap lock (see taskloader.storage.lock)
    <prefix>ledger.sqlite    the last checkpoint of the ledger
    <prefix>succeeded.csv, failed.csv, invalid.csv, unprocessed.csv, summary.json
                             (the result files, named after the ledger as locally; the
                             working ledger is ledger.sqlite, so these are the plain names)

:func:`open_s3_out_dir` takes the lock first, then downloads ``ledger.sqlite`` if present, so a
container stopped and started again resumes from its last checkpoint. S3's copy wins over any
local file: rows recorded locally after the last checkpoint are sent again with their original
ClientToken, which creates no duplicate task. Each checkpoint is one upload of a consistent
snapshot file: a PutObject (or a completed multipart upload, for big ledgers) replaces the object
atomically, so a reader never sees half a ledger.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import structlog
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from taskloader.aws import AwsOptions
from taskloader.errors import LedgerError, LedgerLockedError
from taskloader.storage.lock import S3Lock
from taskloader.storage.s3 import S3Url, error_code, make_s3_client, reraise_credentials

__all__ = ["LEDGER_NAME", "LOCK_NAME", "RESULT_FILES", "S3OutDir", "open_s3_out_dir"]

log = structlog.get_logger(__name__)

LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = "ledger.lock"
RESULT_FILES = ("succeeded.csv", "failed.csv", "invalid.csv", "unprocessed.csv", "summary.json")
_CONTENT_TYPES = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}
_S3_ERRORS = (ClientError, BotoCoreError, S3UploadFailedError, OSError)


class S3OutDir:
    """The S3 side of an output directory. Every S3 call runs in a worker thread."""

    def __init__(
        self, client: Any, prefix: S3Url, local_dir: Path, *, lock: S3Lock | None = None
    ) -> None:
        self.prefix = prefix.as_prefix()
        self.local_dir = local_dir
        self._client = client
        self._lock = lock
        self._mu = anyio.Lock()

    @property
    def ledger_url(self) -> S3Url:
        return self.prefix.join(LEDGER_NAME)

    @property
    def ledger_path(self) -> Path:
        """Where the run opens its local ledger."""
        return self.local_dir / LEDGER_NAME

    @property
    def snapshot_path(self) -> Path:
        """A good ``dest`` for the ledger's snapshot (``Ledger.backup_to``)."""
        return self.local_dir / f"{LEDGER_NAME}.snapshot"

    async def download_ledger(self) -> bool:
        """Fetch ``<prefix>ledger.sqlite`` to :attr:`ledger_path`; False if there is none yet.

        The downloaded file replaces any local one (and its ``-wal``/``-shm``); without an S3
        copy, the local directory is left as it is.
        """
        path = self.ledger_path
        url = self.ledger_url

        def download() -> int:
            part = path.with_name(f"{path.name}.download")
            self._client.download_file(url.bucket, url.key, str(part))
            for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)  # they belong to the file being replaced
            part.replace(path)
            return path.stat().st_size

        try:
            size = await anyio.to_thread.run_sync(download)
        except ClientError as exc:
            if error_code(exc) in {"404", "NoSuchKey"}:
                log.info("s3.ledger_absent", url=str(url))
                return False
            raise self._error(f"cannot download {url}", exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error(f"cannot download {url}", exc) from exc
        log.info("s3.ledger_downloaded", url=str(url), bytes=size)
        return True

    async def checkpoint(self, snapshot: Path) -> None:
        """Upload a consistent ledger snapshot file as ``<prefix>ledger.sqlite``."""
        async with self._mu:
            await self._upload(snapshot, self.ledger_url, "application/vnd.sqlite3")

    async def run_checkpoints(self, every: float, snapshot: Callable[[], Path]) -> None:
        """Every ``every`` seconds, take a snapshot (in a worker thread) and upload it.

        Start it in the run's task group and cancel it when sending ends, before the final
        :meth:`checkpoint`. A failed checkpoint is logged and tried again next time; it stops
        for good if the lock was lost.
        """
        while True:
            await anyio.sleep(every)
            try:
                async with self._mu:
                    path = await anyio.to_thread.run_sync(snapshot)
                    await self._upload(path, self.ledger_url, "application/vnd.sqlite3")
            except LedgerLockedError:
                return
            except LedgerError as exc:
                log.warning("s3.checkpoint_failed", url=str(self.ledger_url), error=exc.reason)

    async def upload_results(
        self, results_dir: Path, names: Sequence[str] = RESULT_FILES
    ) -> list[S3Url]:
        """Upload the result files ``names`` found in ``results_dir`` under the same names;
        missing ones are skipped."""
        uploaded = []
        for name in names:
            path = results_dir / name
            if not await anyio.Path(path).is_file():
                continue
            url = self.prefix.join(name)
            await self._upload(path, url, _CONTENT_TYPES.get(path.suffix, "text/plain"))
            uploaded.append(url)
        return uploaded

    async def _upload(self, path: Path, url: S3Url, content_type: str) -> None:
        if self._lock is not None and self._lock.lost is not None:
            raise LedgerLockedError(str(self.ledger_url), f"not uploading {url}: {self._lock.lost}")
        extra = {"ContentType": content_type}

        def upload() -> int:
            self._client.upload_file(str(path), url.bucket, url.key, ExtraArgs=extra)
            return path.stat().st_size

        try:
            size = await anyio.to_thread.run_sync(upload)
        except _S3_ERRORS as exc:
            raise self._error(f"cannot upload {path.name} to {url}", exc) from exc
        log.info("s3.uploaded", url=str(url), bytes=size)

    def _error(self, what: str, exc: Exception) -> LedgerError:
        if isinstance(exc, BotoCoreError):
            reraise_credentials(exc, self.prefix)
        detail = f"S3 {error_code(exc)}" if isinstance(exc, ClientError) else str(exc)
        return LedgerError(str(self.ledger_url), f"{what}: {detail}")


@asynccontextmanager
async def open_s3_out_dir(
    location: str,
    aws: AwsOptions,
    local_dir: Path,
    *,
    lock_ttl: float = 120.0,
    on_lock_lost: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[S3OutDir]:
    """Open ``--out-dir s3://...``: take the lock, download the ledger if present, yield.

    ``local_dir`` is a scratch directory for the working ledger. The lock is held (and
    heartbeated) until the block exits, then released. Raises :class:`LedgerLockedError` if a
    live run holds it. The caller does the final :meth:`S3OutDir.checkpoint` and
    :meth:`S3OutDir.upload_results` inside the block.
    """
    prefix = S3Url.parse_prefix(location)
    client = await anyio.to_thread.run_sync(make_s3_client, aws)
    try:
        lock = S3Lock(
            client,
            prefix.join(LOCK_NAME),
            ledger=str(prefix.join(LEDGER_NAME)),
            ttl=lock_ttl,
            on_lost=on_lock_lost,
            clock=clock,
        )
        async with lock:
            out = S3OutDir(client, prefix, local_dir, lock=lock)
            await out.download_ledger()
            yield out
    finally:
        client.close()
