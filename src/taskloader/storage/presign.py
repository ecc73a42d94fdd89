"""S3 objects attached to tasks: presigned GetObject URLs, and whether an object can be read.

A presigned URL is a credential: it is made per StartTaskContact attempt, handed to the request
and never stored or logged. It is signed with the run's credentials and Signature Version 4
(see :func:`make_s3_client`), so it lives at most as long as those credentials do, whatever
``ttl`` says.

Blocking, like every S3 call here (the client may read config files or refresh credentials):
call from a worker thread. The client is made on first use, so a run without S3 attachments
never makes one.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from taskloader.aws import AwsOptions
from taskloader.storage.s3 import S3Url, error_code, make_s3_client, reraise_credentials

__all__ = ["MAX_TTL", "MISSING", "UNREADABLE", "AttachmentStore"]

#: SigV4 presigned URLs live at most seven days.
MAX_TTL = 7 * 24 * 3600
MISSING = "missing"
UNREADABLE = "unreadable"
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})


class AttachmentStore:
    """Presigns and checks attachment objects with one lazily made S3 client; thread-safe."""

    def __init__(self, aws: AwsOptions, ttl: int) -> None:
        if not 1 <= ttl <= MAX_TTL:
            raise ValueError(f"ttl must be 1 to {MAX_TTL} seconds")
        self._aws = aws
        self._ttl = ttl
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = make_s3_client(self._aws)
            return self._client

    def presign(self, url: S3Url) -> str:
        """A GetObject URL for ``url`` valid for ``ttl`` seconds (signed locally: no request)."""
        try:
            return str(
                self._s3().generate_presigned_url(
                    "get_object",
                    Params={"Bucket": url.bucket, "Key": url.key},
                    ExpiresIn=self._ttl,
                )
            )
        except BotoCoreError as exc:
            reraise_credentials(exc, url)
            raise

    def problem(self, url: S3Url) -> str | None:
        """None if the object exists and the run may read it, else :data:`MISSING` or
        :data:`UNREADABLE` (one HEAD request)."""
        try:
            self._s3().head_object(Bucket=url.bucket, Key=url.key)
        except ClientError as exc:
            return MISSING if error_code(exc) in _MISSING_CODES else UNREADABLE
        except BotoCoreError as exc:
            reraise_credentials(exc, url)
            raise
        return None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
