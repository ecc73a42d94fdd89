"""Telling a damaged ledger from a new one, before SQLite touches it.

A ledger is created whole or not at all (:func:`create_atomically`: built under a temporary
name, checkpointed, renamed into place), so a file at the ledger's path always holds the schema
and the meta table in its main file. Anything else there is damage, and is refused with
:class:`LedgerDamagedError` instead of being started again under a new batch id.

The write-ahead log. SQLite replays a ``-wal`` file beside a database without checking that it
belongs to it (a WAL of another database with the same page size is applied, and checkpointed
into the main file when the connection closes). So the writer keeps these meta rows:

* ``ledger_id`` -- a uuid fixed when the ledger is created;
* ``session`` / ``prev_session`` -- a nonce per writer open, and the one before it;
* ``state`` -- ``open`` while a writer has it (checkpointed into the main file at open),
  ``closed`` after a clean close;
* ``commits`` -- bumped in every write transaction, so every WAL the writer leaves holds the
  meta page.

:func:`inspect` reads the main file alone (``immutable=1`` ignores the WAL), then the view
through the WAL (a ``mode=ro`` connection, which never checkpoints), and compares: another
``ledger_id`` or batch id is a foreign WAL; a session that is neither the main file's nor its
successor is a WAL of another run; fewer commits than the main file is a stale WAL; a main file
left ``open`` with no WAL at all lost the WAL and the outcomes it held.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from taskloader.errors import LedgerDamagedError, LedgerError
from taskloader.ledger.atomic import remove_stale_temps, temp_name
from taskloader.ledger.schema import RESTORE_ADVICE, connect, read_meta, write_meta

__all__ = ["close_session", "create_atomically", "inspect", "open_session", "stamp_commit"]

log = structlog.get_logger(__name__)

STAMP_SQL = (
    "INSERT INTO meta (key, value) VALUES ('commits', '1') "
    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
)


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def inspect(path: Path) -> bool:
    """True if ``path`` holds a sound ledger, False if there is none; LedgerDamagedError else."""
    wal = wal_path(path)
    if not path.exists():
        if wal.exists():
            raise LedgerDamagedError(
                str(path),
                f"the ledger file is missing but its write-ahead log {wal.name} is there. "
                f"Restore the ledger file, or move {wal.name} aside if it is not this ledger's",
            )
        return False
    if path.stat().st_size == 0:
        raise LedgerDamagedError(str(path), f"it is an empty file (0 bytes). {RESTORE_ADVICE}")
    try:
        main = _main_file_meta(path)
    except LedgerError:
        # An older taskloader created ledgers in place: one that crashed before its first
        # checkpoint has its tables only in the WAL. Accept that, and only that.
        if not wal.exists() or wal.stat().st_size == 0 or _wal_view_meta(path).get("ledger_id"):
            raise
        return True
    if not main.get("ledger_id"):
        return True  # written by an older taskloader: nothing to compare the WAL with
    batch = main.get("batch_id")
    if not wal.exists():
        if main.get("state") == "open":
            raise LedgerDamagedError(
                str(path),
                f"its write-ahead log {wal.name} is missing, but the last run did not close "
                "the ledger, so outcomes committed since then were in that file. Put "
                f"{wal.name} back beside the ledger if you have it. If it is lost, rows whose "
                f"outcome it held are unknown: {_resend_advice(batch)}",
            )
        return True
    if wal.stat().st_size == 0:
        return True
    try:
        seen = _wal_view_meta(path)
    except LedgerError as exc:
        raise LedgerDamagedError(
            str(path),
            f"the write-ahead log {wal.name} beside it does not fit this ledger ({exc.reason}); "
            f"it was not applied. Move {wal.name} aside and run again",
        ) from exc
    if seen.get("ledger_id") != main.get("ledger_id") or seen.get("batch_id") != batch:
        raise LedgerDamagedError(
            str(path),
            f"the write-ahead log {wal.name} beside it belongs to another ledger (batch "
            f"{seen.get('batch_id')!r}, not {batch!r}); it was not applied. Move {wal.name} "
            "aside (keep it if it is another ledger's) and run again",
        )
    session = main.get("session")
    if seen.get("session") != session and seen.get("prev_session") != session:
        raise LedgerDamagedError(
            str(path),
            f"the write-ahead log {wal.name} beside it is from another run of this ledger, not "
            f"the last one; it was not applied. Move {wal.name} aside and run again",
        )
    if _int(seen.get("commits")) < _int(main.get("commits")):
        raise LedgerDamagedError(
            str(path),
            f"the write-ahead log {wal.name} beside it is older than the ledger file (a stale "
            f"copy); it was not applied. Move {wal.name} aside and run again",
        )
    return True


def _resend_advice(batch: str | None) -> str:
    named = f"--batch-id {batch}" if batch else "the --batch-id it was started with, if any"
    return (
        "to resume anyway, move the ledger aside and rerun the same input with "
        f"{named} (without --batch-id the batch id is derived from the instance and the "
        "input's name, so the same input gets it back by itself): rows already created "
        "get their existing task back by ClientToken, within Amazon Connect's idempotency window"
    )


def _main_file_meta(path: Path) -> dict[str, str | None]:
    """The meta table as the main file alone holds it (any WAL ignored)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise LedgerError(str(path), f"cannot open: {exc}") from exc
    try:
        return read_meta(conn, path)
    finally:
        conn.close()


def _wal_view_meta(path: Path) -> dict[str, str | None]:
    """The meta table as SQLite sees it through the WAL; read-only, so nothing is replayed
    into the main file."""
    conn = connect(path, readonly=True)
    try:
        return read_meta(conn, path)
    finally:
        conn.close()


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def create_atomically(path: Path, build: Callable[[sqlite3.Connection], None]) -> None:
    """Create the ledger at ``path`` whole: ``build`` runs in one transaction on a temporary
    file, which is checkpointed, closed and renamed into place."""
    remove_stale_temps(path)  # a creation killed half-way
    tmp = temp_name(path)
    for leftover in (tmp, wal_path(tmp), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
    conn = connect(tmp, readonly=False)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            build(conn)
            write_meta(conn, {"ledger_id": uuid.uuid4().hex, "commits": "0", "state": "closed"})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()  # the last connection: checkpoints and removes the WAL
    try:
        if wal_path(tmp).exists():
            raise LedgerError(str(path), "could not checkpoint the new ledger")
        tmp.replace(path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LedgerError(str(path), f"cannot create the ledger: {exc}") from exc


def open_session(conn: sqlite3.Connection, path: Path, meta: Mapping[str, str | None]) -> None:
    """Mark the ledger ``open`` by a new writer session, and checkpoint that into the main file
    (so a WAL lost from now on is noticed)."""
    updates = {"state": "open", "session": uuid.uuid4().hex, "prev_session": meta.get("session")}
    if not meta.get("ledger_id"):  # a ledger of an older taskloader joins the checks from now
        updates["ledger_id"] = uuid.uuid4().hex
    try:
        conn.execute("BEGIN IMMEDIATE")
        write_meta(conn, updates)
        conn.execute(STAMP_SQL)
        conn.execute("COMMIT")
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise LedgerError(str(path), f"write failed: {exc}") from exc
    if busy:
        log.warning("ledger.checkpoint_busy", ledger=str(path))


def stamp_commit(conn: sqlite3.Connection) -> None:
    """Count a write transaction in the meta table (the caller owns the transaction)."""
    conn.execute(STAMP_SQL)


def close_session(conn: sqlite3.Connection) -> None:
    """Mark a clean close; closing the last connection then checkpoints and drops the WAL."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("BEGIN IMMEDIATE")
        write_meta(conn, {"state": "closed"})
        conn.execute(STAMP_SQL)
        conn.execute("COMMIT")
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def mark_snapshot_closed(conn: sqlite3.Connection) -> None:
    """A snapshot copy is a self-contained file: nothing of it lives in a WAL."""
    write_meta(conn, {"state": "closed"})


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
