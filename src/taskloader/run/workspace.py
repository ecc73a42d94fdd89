"""Where a run keeps its ledger and result files: a local directory or an S3 prefix.

Local: the ledger is ``--ledger`` (or ``<out-dir>/ledger.sqlite``, or without either
``<input file name>-taskloader/ledger.sqlite``), results beside it or in ``--out-dir``, named
after the ledger (``ledger.results.result_names``); the ledger's own file lock keeps a second
run out.

S3 (``--out-dir s3://bucket/prefix/``): the run works on a local copy in a temporary directory.
On entry it takes the S3 overlap lock and downloads ``<prefix>ledger.sqlite`` if a previous run
left one (so a restarted container resumes); while it runs the ledger is checkpointed to S3
every ``checkpoint_interval`` seconds; at the end the final ledger, the result files and
``summary.json`` are uploaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from taskloader.aws import AwsOptions
from taskloader.errors import UsageError
from taskloader.ledger.store import Ledger
from taskloader.storage.s3 import is_s3
from taskloader.storage.s3_dir import S3OutDir, open_s3_out_dir


@dataclass(frozen=True, slots=True)
class WorkspaceOptions:
    """``--ledger`` and ``--out-dir`` as given (either may be unset), and AWS access for S3."""

    ledger: str | None = None
    out_dir: str | None = None
    aws: AwsOptions = field(default_factory=AwsOptions)


@dataclass(frozen=True, slots=True)
class Workspace:
    ledger_path: Path
    results_dir: Path  # where result files are written locally
    label: str  # what to tell the user: a directory or an s3:// prefix
    s3: S3OutDir | None = None

    @property
    def ledger_label(self) -> str:
        return str(self.s3.ledger_url) if self.s3 is not None else str(self.ledger_path)

    async def run_checkpoints(self, ledger: Ledger, every: float) -> None:
        """Upload ledger snapshots until cancelled (a no-op for a local workspace)."""
        if self.s3 is None:
            await anyio.sleep_forever()
            return
        s3 = self.s3
        await s3.run_checkpoints(every, lambda: ledger.backup_to(s3.snapshot_path))

    async def publish(self, ledger: Ledger, *, results: bool) -> None:
        """Final checkpoint and result upload (S3 only); shielded from cancellation."""
        if self.s3 is None:
            return
        s3 = self.s3
        with anyio.CancelScope(shield=True):
            snapshot = await anyio.to_thread.run_sync(ledger.backup_to, s3.snapshot_path)
            await s3.checkpoint(snapshot)
            if results:  # every file the run wrote there (verify adds its own), temp files not
                names = await anyio.to_thread.run_sync(_written, self.results_dir)
                await s3.upload_results(self.results_dir, names)


def input_file_name(location: str) -> str:
    """The input's whole file name (``callbacks.2026-06-01.csv``), ``stdin`` for ``-``."""
    if location == "-":
        return "stdin"
    name = location.rstrip("/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else "input"


def default_paths(options: WorkspaceOptions, location: str) -> tuple[Path, Path]:
    """(ledger, out_dir) of a local run: results beside the ledger unless ``out_dir`` is set.

    Without either, both live in ``<input file name>-taskloader/``: the whole name, so
    ``callbacks.2026-06-01.csv`` and ``callbacks.2026-06-02.csv`` never share a ledger.
    """
    stem = input_file_name(location)
    if options.ledger:
        ledger = Path(options.ledger)
        out_dir = Path(options.out_dir) if options.out_dir else ledger.parent
    else:
        out_dir = Path(options.out_dir) if options.out_dir else Path(f"{stem}-taskloader")
        ledger = out_dir / "ledger.sqlite"
    return ledger, out_dir


@asynccontextmanager
async def open_workspace(
    options: WorkspaceOptions, location: str, *, on_lock_lost: Callable[[str], None]
) -> AsyncIterator[Workspace]:
    """The run's workspace; ``on_lock_lost`` is called if the S3 lock is taken from it."""
    if not is_s3(options.out_dir):
        ledger, out_dir = default_paths(options, location)
        yield Workspace(ledger, out_dir, str(out_dir))
        return
    assert options.out_dir is not None
    local = Path(await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="taskloader-")))
    try:
        async with open_s3_out_dir(
            options.out_dir, options.aws, local, on_lock_lost=on_lock_lost
        ) as s3:
            yield Workspace(s3.ledger_path, local / "results", options.out_dir, s3)
    finally:  # the local working copy: S3 holds the ledger and results now
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(local, ignore_errors=True))


async def probe_writable(directory: Path) -> None:
    """Create ``directory`` and write a file in it before anything is sent: an output folder
    that is read-only or full is found now, not after every task was created."""

    def probe() -> None:
        probe_file = directory / f".taskloader-probe-{os.getpid()}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with probe_file.open("wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise UsageError(
                f"cannot write result files to {directory}: {exc.strerror or exc} "
                "(choose another --out-dir, or free space)"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                probe_file.unlink(missing_ok=True)

    await anyio.to_thread.run_sync(probe)


def _written(directory: Path) -> tuple[str, ...]:
    """The result files in ``directory``: a run's own local folder in S3 mode."""
    if not directory.is_dir():
        return ()
    return tuple(sorted(p.name for p in directory.iterdir() if p.is_file() and p.name[0] != "."))
