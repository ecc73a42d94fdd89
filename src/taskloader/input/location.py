"""Open an input by its location: a local file (plain or gzip), ``-`` for stdin, or ``s3://``.

Opening and reading are blocking; :func:`input_rows` does the open and close in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import anyio

from taskloader.aws import AwsOptions
from taskloader.errors import InputFileError
from taskloader.input.readers import RowReader, SourceOptions, open_rows, read_rows
from taskloader.input.s3 import head_s3_input, open_s3_input
from taskloader.storage.s3 import S3Url, is_s3


@dataclass(frozen=True, slots=True)
class InputOptions:
    """How to read an input: the format rules, and the AWS access for ``s3://`` locations."""

    source: SourceOptions = field(default_factory=SourceOptions)
    aws: AwsOptions = field(default_factory=AwsOptions)


def fingerprint_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """The sha256 hex digest of a file's content, read in chunks (memory stays flat)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def open_input(
    location: str, options: InputOptions, *, if_match: str | None = None
) -> Iterator[RowReader]:
    """Rows of a local file, ``-`` (stdin) or an ``s3://`` object, streamed. Blocking.

    ``if_match``: the S3 ETag the ledger was checked against; another version is refused.
    """
    if is_s3(location):
        url = S3Url.parse_object(location)
        with open_s3_input(url, options.aws, if_match=if_match) as stream:
            yield read_rows(stream, location, options.source)
    else:
        with open_rows(location, options.source) as reader:
            yield reader


def count_rows(
    location: str, options: InputOptions, checkpoint: Callable[[], None] = lambda: None
) -> int | None:
    """How many rows a local input holds, for the progress bar's total and ETA; None for stdin
    and S3 (read once only) and for a file the run's own reader will refuse.

    Blocking. ``checkpoint`` is called between chunks: in a worker thread,
    ``anyio.from_thread.check_cancelled`` stops the count when the run ends first.
    """
    if location == "-" or is_s3(location):
        return None
    count = 0
    try:
        with open_input(location, options) as reader:
            if reader.records is not None:
                while chunk := reader.records.read(4096)[1]:
                    checkpoint()
                    count += len(chunk)
                return count
            while chunk_rows := list(islice(reader, 4096)):
                checkpoint()
                count += len(chunk_rows)
    except InputFileError:
        return None
    return count


@asynccontextmanager
async def input_rows(
    location: str, options: InputOptions, *, if_match: str | None = None
) -> AsyncIterator[RowReader]:
    """:func:`open_input` with the blocking open and close done in a worker thread."""
    cm = open_input(location, options, if_match=if_match)
    reader = await anyio.to_thread.run_sync(cm.__enter__)
    try:
        yield reader
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(cm.__exit__, type(exc), exc, exc.__traceback__)
        raise
    else:
        await anyio.to_thread.run_sync(cm.__exit__, None, None, None)


async def input_identity(location: str, aws: AwsOptions) -> tuple[str | None, str | None]:
    """(fingerprint, etag) of the input: content hash of a local file, ETag-based for S3.

    stdin has neither: it cannot be read twice, so a resumed run cannot check it.
    """
    if location == "-":
        return None, None
    if is_s3(location):
        info = await anyio.to_thread.run_sync(head_s3_input, S3Url.parse_object(location), aws)
        return info.fingerprint, info.etag
    try:
        return await anyio.to_thread.run_sync(fingerprint_file, location), None
    except FileNotFoundError:
        raise InputFileError(location, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(location, "is a directory, not a file") from None
    except PermissionError:
        raise InputFileError(location, "permission denied") from None
