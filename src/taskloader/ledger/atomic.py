"""Files written whole: under a temporary name, fsynced, renamed into place.

A process killed while writing leaves its temporary file behind (``.<name>.<pid>.tmp``). The
next write of the same file removes such leftovers of processes that are gone (or of any
process, once a day old), so none stays for good.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_text", "remove_stale_temps", "temp_name"]

#: A temporary file this old is a leftover whatever its pid says (pids are reused).
STALE_AFTER_S = 24 * 3600.0


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temps(path: Path) -> int:
    """Delete the temporary files of ``path`` left by dead processes; returns how many."""
    removed = 0
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return 0
    now = time.time()
    for candidate in candidates:
        # .<name>.<pid>.tmp, and the -wal/-shm of a SQLite file being built under that name
        base = candidate.name.removesuffix("-wal").removesuffix("-shm")
        pid_text = base[len(prefix) :].removesuffix(".tmp")
        if not base.endswith(".tmp") or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        try:
            old = now - candidate.stat().st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if old or not _alive(pid):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text file written under a temporary name, fsynced and renamed over ``path`` on success."""
    remove_stale_temps(path)
    tmp = temp_name(path)
    try:
        with tmp.open("w", encoding="utf-8", errors="backslashreplace", newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
