"""The S3 overlap lock: one live run per ledger location.

The lock is an object (``<prefix>ledger.lock``) holding JSON: owner id, host, pid, created,
refreshed and expiry times. Every change is a conditional write, so S3 decides each race:

* acquire: ``PutObject`` with ``If-None-Match: *`` -- only one creator wins;
* a lock past its expiry (its owner died) is taken over with ``PutObject`` and
  ``If-Match: <the expired lock's ETag>``: of several runs seeing the same dead lock, exactly one
  replaces it; the others see a fresh lock and refuse;
* heartbeat: ``PutObject`` with ``If-Match: <our ETag>`` pushes the expiry forward; a failed
  condition means another run took the lock over, which is reported as "lock lost";
* release: ``DeleteObject`` with ``If-Match: <our ETag>``, so a lock taken over is never deleted.

Expiry times are written with the writer's clock and compared with the reader's, so hosts need
roughly synchronised clocks (ECS and Kubernetes nodes run NTP); the default TTL of 2 minutes
with a heartbeat every 30 s leaves a wide margin. If botocore retries a conditional write whose
first attempt succeeded, the retry fails its condition on our own write; every failed
condition is therefore checked against the owner id before it counts as lost.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from taskloader.errors import LedgerError, LedgerLockedError
from taskloader.storage.s3 import S3Url, error_code, reraise_credentials

__all__ = ["LockInfo", "S3Lock"]

log = structlog.get_logger(__name__)

_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_MISSING = {"NoSuchKey", "404"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class LockInfo:
    """The content of a lock object. Times are Unix seconds."""

    owner: str
    host: str
    pid: int
    created: float
    refreshed: float
    expires: float

    def to_json(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        data |= {"created_at": _iso(self.created), "expires_at": _iso(self.expires)}
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes, *, fallback_expiry: float) -> LockInfo:
        """Parse a lock body; an unreadable one is "unknown"'s until ``fallback_expiry``."""
        try:
            d = json.loads(body)
            return cls(
                str(d["owner"]),
                str(d["host"]),
                int(d["pid"]),
                float(d["created"]),
                float(d["refreshed"]),
                float(d["expires"]),
            )
        except (ValueError, KeyError, TypeError):
            return cls("unknown", "unknown", 0, fallback_expiry, fallback_expiry, fallback_expiry)

    def describe(self, now: float) -> str:
        return (
            f"run {self.owner} on {self.host} (pid {self.pid}), started {_iso(self.created)}, "
            f"lock expires {_iso(self.expires)} (in {max(0, round(self.expires - now))} s)"
        )


class S3Lock:
    """Hold ``url`` (the lock object) as ``async with S3Lock(...)``: acquire, heartbeat, release.

    ``client`` is a boto3 S3 client; every call runs in a worker thread. ``ledger`` names the
    protected location in messages. Entering raises :class:`LedgerLockedError` (exit 2) if a live
    run holds the lock. If the lock is lost while held (another run took it over after our
    heartbeats failed for a whole TTL), ``on_lost(message)`` is called -- the pipeline passes
    one that stops the run -- or, without ``on_lost``, the body of the ``async with`` is
    cancelled and :class:`LedgerLockedError` raised. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        url: S3Url,
        *,
        ledger: str,
        ttl: float = 120.0,
        heartbeat: float | None = None,
        on_lost: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be > 0")
        self.url = url
        self.ledger = ledger
        self.ttl = ttl
        self.heartbeat = heartbeat if heartbeat is not None else ttl / 4
        self.owner = owner or uuid.uuid4().hex
        self.info: LockInfo | None = None
        self.lost: str | None = None
        self._client = client
        self._on_lost = on_lost
        self._clock = clock
        self._etag: str | None = None
        self._cm: AbstractAsyncContextManager[S3Lock] | None = None

    # --- the context manager -------------------------------------------------------------------
    async def __aenter__(self) -> S3Lock:
        self._cm = self._held()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._cm is not None
        return await self._cm.__aexit__(*exc)

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[S3Lock]:
        await self.acquire()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_alive, tg.cancel_scope)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
            if self.lost is not None and self._on_lost is None:
                raise LedgerLockedError(self.ledger, self.lost)
        finally:
            with anyio.CancelScope(shield=True):
                await self.release()

    # --- the operations ------------------------------------------------------------------------
    async def acquire(self) -> LockInfo:
        """Create the lock, or take over an expired one; refuse if a live run holds it."""
        for _ in range(5):
            now = self._clock()
            mine = LockInfo(self.owner, socket.gethostname(), os.getpid(), now, now, now + self.ttl)
            if await self._put(mine, IfNoneMatch="*"):
                return self._took("s3.lock_acquired", mine)
            current = await self._read()
            if current is None:
                continue  # released between our put and our read: try again
            theirs, etag = current
            if theirs.owner == self.owner:  # our own first attempt succeeded; a retry failed
                self._etag = etag
                return self._took("s3.lock_acquired", theirs)
            if theirs.expires > now:
                raise LedgerLockedError(
                    self.ledger,
                    f"another run holds it: {theirs.describe(now)}; if that run is dead, wait "
                    f"for the expiry or delete {self.url}",
                )
            if await self._put(mine, IfMatch=etag):
                log.warning("s3.lock_taken_over", url=str(self.url), previous=theirs.owner)
                return self._took("s3.lock_acquired", mine)
        raise LedgerLockedError(self.ledger, f"could not acquire {self.url}: too much contention")

    async def refresh(self) -> bool:
        """Push the expiry forward. False if the lock is no longer ours."""
        assert self.info is not None and self._etag is not None, "refresh() before acquire()"
        now = self._clock()
        info = LockInfo(
            self.owner, self.info.host, self.info.pid, self.info.created, now, now + self.ttl
        )
        if await self._put(info, IfMatch=self._etag):
            self.info = info
            return True
        current = await self._read()
        if current is not None and current[0].owner == self.owner:
            self.info, self._etag = current
            return True
        return False

    async def release(self) -> None:
        """Delete the lock if it is still ours. Never raises: a stuck lock expires on its own."""
        if self._etag is None:
            return
        etag, self._etag = self._etag, None
        try:
            await anyio.to_thread.run_sync(
                lambda: self._client.delete_object(
                    Bucket=self.url.bucket, Key=self.url.key, IfMatch=etag
                )
            )
            log.info("s3.lock_released", url=str(self.url))
        except (ClientError, BotoCoreError) as exc:
            expiry = _iso(self.info.expires) if self.info else "its expiry"
            code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            log.warning("s3.lock_not_released", url=str(self.url), error=code, until=expiry)

    # --- internals -----------------------------------------------------------------------------
    def _took(self, event: str, info: LockInfo) -> LockInfo:
        self.info = info
        log.info(event, url=str(self.url), owner=self.owner, expires=_iso(info.expires))
        return info

    async def _keep_alive(self, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self.heartbeat)
            try:
                if await self.refresh():
                    continue
                reason = f"another run took over {self.url}"
            except (ClientError, BotoCoreError, LedgerError) as exc:
                assert self.info is not None
                if self._clock() < self.info.expires:
                    log.warning("s3.lock_refresh_failed", url=str(self.url), error=str(exc))
                    continue
                reason = f"could not refresh {self.url} before it expired: {exc}"
            self.lost = f"lock lost: {reason}"
            self._etag = None  # it is not ours: never delete it
            log.error("s3.lock_lost", url=str(self.url), reason=reason)
            if self._on_lost is not None:
                self._on_lost(self.lost)
            else:
                scope.cancel()
            return

    async def _put(self, info: LockInfo, **condition: str) -> bool:
        """A conditional PutObject; False if the condition failed."""

        def put() -> Any:
            return self._client.put_object(
                Bucket=self.url.bucket,
                Key=self.url.key,
                Body=info.to_json(),
                ContentType="application/json",
                **condition,
            )

        try:
            response = await anyio.to_thread.run_sync(put)
        except ClientError as exc:
            if error_code(exc) in _CONFLICT | _MISSING:
                return False
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        self._etag = response["ETag"]
        return True

    async def _read(self) -> tuple[LockInfo, str] | None:
        def get() -> tuple[LockInfo, str]:
            obj = self._client.get_object(Bucket=self.url.bucket, Key=self.url.key)
            with obj["Body"] as body:
                data = body.read()
            fallback = obj["LastModified"].timestamp() + self.ttl
            return LockInfo.from_json(data, fallback_expiry=fallback), obj["ETag"]

        try:
            return await anyio.to_thread.run_sync(get)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: ClientError | BotoCoreError) -> LedgerError:
        if isinstance(exc, BotoCoreError):
            reraise_credentials(exc, self.url)
            return LedgerError(self.ledger, f"cannot use the lock {self.url}: {exc}")
        return LedgerError(self.ledger, f"cannot use the lock {self.url}: S3 {error_code(exc)}")
