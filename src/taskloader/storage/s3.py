"""S3 locations and the S3 client of a run.

``s3://bucket/key`` names an input object; ``s3://bucket/prefix/`` names an output directory
(``--out-dir``), where the ledger, its lock and the result files live.

All S3 calls go through one synchronous boto3 client per component, used only from worker
threads (``anyio.to_thread.run_sync``) or from the reader thread, never on the event loop:
boto3 reads files and computes checksums synchronously, and its transfer manager gives
multipart uploads for large ledgers for free. The endpoint comes from the standard botocore
configuration (``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``, then the profile), so tests and
the smoke script point it at moto. ``AwsOptions.connect_endpoint`` is the Connect endpoint and
is *not* used for S3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from taskloader.aws import AwsOptions
from taskloader.errors import FatalApiError, LedgerError, UsageError

__all__ = [
    "S3Url",
    "download_object",
    "error_code",
    "is_s3",
    "make_s3_client",
    "reraise_credentials",
]

_SCHEME = "s3://"
# General purpose bucket names: 3-63 characters, lower case letters, digits, dots and hyphens,
# beginning and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def is_s3(location: str | None) -> bool:
    """True if ``location`` is an ``s3://`` URL (the check the CLI uses to pick an adapter)."""
    return bool(location) and str(location).startswith(_SCHEME)


@dataclass(frozen=True, slots=True)
class S3Url:
    """An S3 bucket and key. A key that is empty or ends with ``/`` is a prefix."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, text: str) -> S3Url:
        if not is_s3(text):
            raise UsageError(f"not an S3 URL (expected s3://bucket/key): {text!r}")
        bucket, _, key = text[len(_SCHEME) :].partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise UsageError(f"not a valid S3 bucket name in {text!r}: {bucket!r}")
        return cls(bucket, key)

    @classmethod
    def parse_object(cls, text: str) -> S3Url:
        """An URL that must name one object (an input file), not a prefix."""
        url = cls.parse(text)
        if url.is_prefix:
            raise UsageError(f"S3 input must name an object, not a prefix: {text!r}")
        return url

    @classmethod
    def parse_prefix(cls, text: str) -> S3Url:
        """An output location: ``s3://b/out`` and ``s3://b/out/`` both mean the prefix ``out/``."""
        return cls.parse(text).as_prefix()

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    @property
    def name(self) -> str:
        """The last part of the key (``orders.csv.gz`` for ``s3://b/in/orders.csv.gz``)."""
        return self.key.rstrip("/").rpartition("/")[2]

    @property
    def is_gzip(self) -> bool:
        return self.key.lower().endswith(".gz")

    def as_prefix(self) -> S3Url:
        return self if self.is_prefix else S3Url(self.bucket, self.key + "/")

    def join(self, name: str) -> S3Url:
        """The object ``name`` under this prefix."""
        return S3Url(self.bucket, self.as_prefix().key + name.lstrip("/"))

    def __str__(self) -> str:
        return f"{_SCHEME}{self.bucket}/{self.key}"


def make_s3_client(aws: AwsOptions) -> Any:
    """A boto3 S3 client for a worker thread (creating it reads config files: call it there too).

    botocore's standard retries stay on for S3 (unlike Connect, where taskloader counts every
    attempt itself): S3 calls are not paced and an idempotent GET or PUT may be repeated.
    Signature Version 4 always, presigned URLs included (botocore may otherwise presign with
    SigV2 query strings in us-east-1, which S3 refuses for buckets created since mid-2020).
    Close it with ``client.close()``.
    """
    session = boto3.session.Session(profile_name=aws.profile, region_name=aws.region)
    config = Config(
        connect_timeout=aws.connect_timeout,
        read_timeout=aws.read_timeout,
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=10,
        signature_version="s3v4",
    )
    return session.client("s3", config=config)


def error_code(exc: ClientError) -> str:
    """The S3 error code, or the HTTP status as a string when S3 sent no body (HEAD requests)."""
    err = exc.response.get("Error", {})
    code = err.get("Code")
    if code:
        return str(code)
    return str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "unknown"))


def reraise_credentials(exc: BotoCoreError, where: S3Url) -> None:
    """Turn a missing-credentials error into the run's fatal error; return for anything else."""
    if isinstance(exc, NoCredentialsError):
        raise FatalApiError(
            "NoCredentials", f"no AWS credentials to access {where} (see docs/deploy.md)"
        ) from exc


_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED = {"403", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "ExpiredToken"}


def download_object(aws: AwsOptions, url: S3Url, dest: Path) -> int:
    """Download the object at ``url`` to ``dest`` (blocking: call it in a worker thread).

    Returns its size. A missing object or bucket is a :class:`LedgerError` (exit 2); missing
    credentials or a refusal is a :class:`FatalApiError` (exit 4), naming ``url``.
    """
    client = make_s3_client(aws)
    try:
        client.download_file(url.bucket, url.key, str(dest))
    except ClientError as exc:
        code = error_code(exc)
        if code in _MISSING:
            raise LedgerError(str(url), "no such S3 object") from exc
        if code in _DENIED:
            raise FatalApiError(code, f"S3 refused to read {url}") from exc
        raise LedgerError(str(url), f"cannot download: S3 {code}") from exc
    except BotoCoreError as exc:
        reraise_credentials(exc, url)
        raise LedgerError(str(url), f"cannot download: {exc}") from exc
    finally:
        client.close()
    return dest.stat().st_size
