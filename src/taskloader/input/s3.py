"""Reading an input file from S3 as a synchronous binary stream, without downloading it whole.

The readers of :mod:`taskloader.input.readers` run in a worker thread and pull bytes as rows are
needed, so a paced run may keep one GET open for hours. :class:`S3ObjectStream` therefore survives a
dropped connection: it reopens the object with ``Range: bytes=<offset>-`` and ``If-Match: <etag>``,
so it continues exactly where it stopped, from the same version of the object, or fails with a
clear message if the object was replaced meanwhile.

Decompression: :func:`taskloader.input.readers.read_rows` already gunzips by name (``.gz``), with
its own error reporting, so :func:`open_s3_input` yields the object's bytes as stored by default;
``decompress=True`` gunzips ``.gz`` keys here instead, for callers that want plain bytes.

Everything here is blocking: call it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, cast

import structlog
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from taskloader.aws import AwsOptions
from taskloader.errors import InputFileError
from taskloader.storage.s3 import S3Url, error_code, make_s3_client, reraise_credentials

__all__ = ["S3ObjectInfo", "S3ObjectStream", "head_s3_input", "open_s3_input"]

log = structlog.get_logger(__name__)

_BUFFER = 64 * 1024
# Errors while reading a body that a reopen at the current offset can fix.
_BODY_ERRORS = (ResponseStreamingError, ReadTimeoutError, IncompleteReadError, OSError)
_MESSAGES = {
    "NoSuchKey": "no such S3 object",
    "404": "no such S3 object (or no such bucket)",
    "NoSuchBucket": "no such S3 bucket",
    "AccessDenied": "access denied (the run needs s3:GetObject on it)",
    "403": "access denied (the run needs s3:GetObject on it)",
    "PreconditionFailed": "the S3 object was replaced after the run started; run again",
    "412": "the S3 object was replaced after the run started; run again",
    "InvalidObjectState": "the S3 object is archived (restore it first)",
}


@dataclass(frozen=True, slots=True)
class S3ObjectInfo:
    """What identifies one version of an input object."""

    url: S3Url
    etag: str
    size: int
    last_modified: datetime

    @property
    def fingerprint(self) -> str:
        """The ledger's "input changed" check for an S3 input, without reading the object.

        A digest of the ETag, the size and LastModified. The ETag alone is the content MD5 for
        a single-part upload but depends on the part size for a multipart one, so the same
        bytes uploaded differently give a different fingerprint; LastModified also changes
        when identical content is uploaded again. Both err on the side of "changed" (the run
        refuses and ``--force`` overrides), never on the side of missing a real change.
        """
        text = f"{self.etag}\n{self.size}\n{self.last_modified.isoformat()}"
        return "s3:" + hashlib.sha256(text.encode()).hexdigest()


def _input_error(url: S3Url, exc: ClientError | BotoCoreError) -> InputFileError:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return InputFileError(str(url), _MESSAGES.get(code, f"S3 error {code}"))
    reraise_credentials(exc, url)
    return InputFileError(str(url), f"cannot read from S3: {exc}")


def head_s3_input(url: S3Url, aws: AwsOptions, *, client: Any = None) -> S3ObjectInfo:
    """ETag, size and LastModified of the input object (one HEAD request)."""
    with ExitStack() as stack:
        if client is None:
            client = make_s3_client(aws)
            stack.callback(client.close)
        try:
            head = client.head_object(Bucket=url.bucket, Key=url.key)
        except (ClientError, BotoCoreError) as exc:
            raise _input_error(url, exc) from exc
        return S3ObjectInfo(url, head["ETag"], int(head["ContentLength"]), head["LastModified"])


class S3ObjectStream(io.RawIOBase):
    """The raw bytes of one S3 object version, read on demand, reopened after a dropped body.

    The first GET happens in the constructor, so a missing object fails before any row is read.
    ``bytes_fetched`` counts the bytes taken from S3 so far.
    """

    def __init__(
        self, client: Any, url: S3Url, *, if_match: str | None = None, max_reopens: int = 5
    ) -> None:
        super().__init__()
        self.url = url
        self.bytes_fetched = 0
        self._client = client
        self._max_reopens = max_reopens
        self._reopens = 0
        response = self._get(if_match, None)
        self.etag: str = response["ETag"]
        self.size = int(response["ContentLength"])
        self._body: Any = response["Body"]

    def _get(self, if_match: str | None, offset: int | None) -> Any:
        args: dict[str, Any] = {"Bucket": self.url.bucket, "Key": self.url.key}
        if if_match:
            args["IfMatch"] = if_match
        if offset:
            args["Range"] = f"bytes={offset}-"
        try:
            return self._client.get_object(**args)
        except (ClientError, BotoCoreError) as exc:
            raise _input_error(self.url, exc) from exc

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self.bytes_fetched < self.size:
            try:
                if self._body is None:
                    self._body = self._get(self.etag, self.bytes_fetched)["Body"]
                data = self._body.read(len(view))
                if not data:
                    raise IncompleteReadError(
                        actual_bytes=self.bytes_fetched, expected_bytes=self.size
                    )
            except _BODY_ERRORS as exc:
                self._reopen_after(exc)
                continue
            view[: len(data)] = data
            self.bytes_fetched += len(data)
            return len(data)
        return 0

    def _reopen_after(self, exc: Exception) -> None:
        self._drop_body()
        self._reopens += 1
        if self._reopens > self._max_reopens:
            raise InputFileError(
                str(self.url),
                f"reading from S3 failed {self._reopens} times, last at byte "
                f"{self.bytes_fetched} of {self.size}: {type(exc).__name__}",
            ) from exc
        log.warning(
            "s3.input_reopened",
            url=str(self.url),
            offset=self.bytes_fetched,
            size=self.size,
            error=type(exc).__name__,
        )

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def close(self) -> None:
        self._drop_body()
        super().close()


@contextmanager
def open_s3_input(
    url: S3Url,
    aws: AwsOptions,
    *,
    if_match: str | None = None,
    client: Any = None,
    decompress: bool = False,
    max_reopens: int = 5,
) -> Iterator[BinaryIO]:
    """Open ``url`` for reading in a worker thread (the first GET happens here).

    ``if_match``: the ETag from :func:`head_s3_input` (the one fingerprinted in the ledger), so
    the bytes read are exactly the version the ledger was checked against. ``decompress``:
    gunzip a ``.gz`` key here (leave it False when the stream goes to ``read_rows``, which
    gunzips by name). Without ``client`` a client is created and closed here.
    """
    with ExitStack() as stack:
        if client is None:
            client = make_s3_client(aws)
            stack.callback(client.close)
        raw = stack.enter_context(
            S3ObjectStream(client, url, if_match=if_match, max_reopens=max_reopens)
        )
        stream: BinaryIO = stack.enter_context(io.BufferedReader(raw, buffer_size=_BUFFER))
        if decompress and url.is_gzip:
            stream = cast(BinaryIO, stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb")))
        yield stream
