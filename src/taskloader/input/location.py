"""Open an input by its location: a local file (plain or gzip), ``-`` for stdin, or ``s3://``.

Opening and reading are blocking; :func:`input_rows` does the open and close in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from taskloader.aws import AwsOptions
from taskloader.errors import InputFileError, StoppedError
from taskloader.input.readers import RowReader, SourceOptions, open_rows, opening, read_rows
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
    with opening(location):
        return await anyio.to_thread.run_sync(fingerprint_file, location), None


SPOOL_BLOCK = 1 << 20
_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")


def needs_spool(location: str) -> bool:
    """stdin, a pipe or a device: an input that can be read only once (S3 and files: not)."""
    if location == "-":
        return True
    if is_s3(location):
        return False
    try:
        mode = Path(location).stat().st_mode
    except OSError:
        return False  # the reader reports a missing file with its own message
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


async def _spool_to(location: str, dest: Path) -> None:
    """Copy a read-once input to ``dest``. The input is read without blocking (``wait_readable``
    between reads), so a pipe whose writer never closes it waits on the event loop, where a
    stopping run cancels it: no thread is left stuck in ``read()``."""
    fd = sys.stdin.fileno() if location == "-" else os.open(location, os.O_RDONLY | os.O_NONBLOCK)
    was_blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        with dest.open("wb") as out:
            first = True
            while True:
                try:
                    block = os.read(fd, SPOOL_BLOCK)
                except BlockingIOError:
                    await anyio.wait_readable(fd)
                    continue
                if not block:
                    return
                if first and b"\x00" in block[:4096] and not block.startswith(_BOMS):
                    raise InputFileError(
                        location, "binary data (NUL bytes), not a CSV or JSONL text file"
                    )
                first = False
                await anyio.to_thread.run_sync(out.write, block)
    except OSError as exc:
        raise InputFileError(location, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.set_blocking(fd, was_blocking)
        if location != "-":
            os.close(fd)


@asynccontextmanager
async def spooled(location: str, *, stopped: Callable[[], bool]) -> AsyncIterator[str]:
    """The location to read twice: ``location`` itself, or a temporary copy of an input that
    can be read only once (removed on exit). Copying stops as soon as the run is asked to stop,
    even while a pipe's writer keeps it waiting."""
    if not needs_spool(location):
        yield location
        return
    directory = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp))
    suffix = "".join(Path(location).suffixes) if location != "-" else ""
    dest = directory / f"input{suffix}"
    try:
        async with anyio.create_task_group() as tg:

            async def cancel_when_stopped() -> None:
                while not stopped():  # noqa: ASYNC110 - ``stopped`` is a plain predicate
                    await anyio.sleep(0.1)
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_when_stopped)
            await _spool_to(location, dest)
            tg.cancel_scope.cancel()
        if stopped():
            raise StoppedError(f"stopped while reading {location}; nothing was sent")
        yield str(dest)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(shutil.rmtree, directory, True)


async def input_changed(
    location: str, aws: AwsOptions, fingerprint: str | None, etag: str | None
) -> bool:
    """Whether the input no longer is the version the run started from (None: not known)."""
    if fingerprint is None:
        return False
    try:
        now, now_etag = await input_identity(location, aws)
    except InputFileError:
        return True  # deleted or unreadable since: certainly not the same input
    return now != fingerprint or (etag is not None and now_etag != etag)
