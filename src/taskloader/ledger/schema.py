"""The ledger's on-disk shape: the SQLite schema, connections, the meta table and the lock file.

Why WAL with ``synchronous=NORMAL`` is safe: see :class:`taskloader.ledger.store.Ledger`.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import sqlite3
from pathlib import Path

from taskloader.errors import LedgerDamagedError, LedgerError, LedgerLockedError

SCHEMA_VERSION = 2

#: What to do with a damaged ledger (the error messages end with it).
RESTORE_ADVICE = (
    "Do not delete it to start over: a new ledger cannot know which rows already became tasks. "
    "Restore it from a copy (with --out-dir s3://, the checkpoint there), or move it aside and "
    "rerun the same input with the --batch-id it was started with, if one was given (without "
    "--batch-id the batch id is derived from the instance and the input's name, so the same "
    "input gets the same ClientTokens by itself, and Amazon Connect returns the "
    "existing tasks within its idempotency window)"
)


class RowStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INVALID = "invalid"
    UNPROCESSED = "unprocessed"


#: Rows a resumed run skips. ``failed`` is terminal unless the run redrives it.
TERMINAL: frozenset[RowStatus] = frozenset(
    {RowStatus.SUCCEEDED, RowStatus.FAILED, RowStatus.INVALID}
)

_STATUS_CHECK = ", ".join(f"'{s.value}'" for s in RowStatus)

_RECORDS = f"""
CREATE TABLE IF NOT EXISTS records (
    ident            TEXT PRIMARY KEY,      -- the row's identity: its key ("<key>#<n>" repeated)
    number           INTEGER NOT NULL,      -- record number: 1-based position in the input
    line             INTEGER NOT NULL,      -- line the record starts on
    key              TEXT,
    token            TEXT,                  -- ClientToken; the stored one is authoritative
    status           TEXT NOT NULL CHECK (status IN ({_STATUS_CHECK})),
    contact_id       TEXT,
    error_code       TEXT,
    error_message    TEXT,                  -- for invalid rows: JSON list of problems
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_attempt_at TEXT,
    last_attempt_at  TEXT,
    raw              TEXT,                  -- JSON object of the row, in column order
    pass             INTEGER NOT NULL DEFAULT 0  -- the pre-flight pass that last saw the row
)
"""

#: Counts of the current pass, the rows left to send and per-status scans in record-number
#: order all read this covering index.
_BY_PASS = "CREATE INDEX IF NOT EXISTS records_by_pass ON records (pass, status, number)"  # noqa: S105

DDL = (
    """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
) WITHOUT ROWID
""",
    _RECORDS,
    _BY_PASS,
)

#: Upgrades a schema-1 ledger (rows identified by position) in place: identity becomes the key,
#: a repeated key's later rows get ``<key>#<number>``, every row belongs to pass 1.
MIGRATE_FROM_1 = (
    "ALTER TABLE records RENAME TO records_v1",
    "DROP INDEX IF EXISTS records_by_status",
    _RECORDS,
    """
INSERT INTO records (ident, number, line, key, token, status, contact_id, error_code,
                     error_message, attempts, first_attempt_at, last_attempt_at, raw, pass)
SELECT CASE
         WHEN key IS NULL THEN '#' || number
         WHEN row_number() OVER (PARTITION BY key ORDER BY number) > 1 THEN key || '#' || number
         ELSE key
       END,
       number, line, key, token, status, contact_id, error_code, error_message, attempts,
       first_attempt_at, last_attempt_at, raw, 1
FROM records_v1
""",
    "DROP TABLE records_v1",
    _BY_PASS,
)


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open ``path``; writers get WAL + ``synchronous=NORMAL``, readers ``mode=ro`` and no lock.

    The connection is in autocommit mode (``isolation_level=None``): transactions are explicit.
    ``check_same_thread=False`` because anyio's worker threads differ between calls; callers
    serialise access themselves.
    """
    try:
        if readonly:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        else:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.close()
                raise LedgerError(str(path), f"cannot switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
    except sqlite3.Error as exc:
        raise LedgerError(str(path), f"cannot open: {exc}") from exc
    return conn


def read_meta(conn: sqlite3.Connection, path: Path) -> dict[str, str | None]:
    """The meta table as a dict; LedgerError if this is not a taskloader ledger we understand,
    LedgerDamagedError if it is one with a table or its batch id missing."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if not tables:
                raise LedgerDamagedError(
                    str(path),
                    "it holds no tables: not a taskloader ledger, or one whose contents were "
                    f"lost. {RESTORE_ADVICE}",
                )
            if "records" in tables:
                raise LedgerDamagedError(
                    str(path), f"its meta table is missing (it has records). {RESTORE_ADVICE}"
                )
            raise LedgerError(str(path), "not a taskloader ledger (no meta table)")
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(str(path), f"not a taskloader ledger ({exc})") from exc
    meta: dict[str, str | None] = {str(k): v for k, v in rows}
    version = meta.get("schema_version")
    if version is None:
        raise LedgerError(str(path), "not a taskloader ledger (no schema version)")
    if int(version) > SCHEMA_VERSION:
        raise LedgerError(
            str(path),
            f"written by a newer taskloader (schema {version}, this one reads {SCHEMA_VERSION})",
        )
    if "records" not in tables:
        raise LedgerDamagedError(
            str(path),
            f"its records table is missing (batch id {meta.get('batch_id')!r}). " + RESTORE_ADVICE,
        )
    if not meta.get("batch_id"):
        raise LedgerDamagedError(
            str(path),
            "its meta table has no batch_id, so the ClientTokens of its rows are unknown. "
            + RESTORE_ADVICE,
        )
    return meta


def write_meta(conn: sqlite3.Connection, values: dict[str, str | None]) -> None:
    """Upsert meta keys; the caller owns the transaction."""
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


class LockFile:
    """An exclusive ``flock`` on ``<ledger>.lock``, held until :meth:`release`.

    The kernel drops the lock when the process dies (even on SIGKILL), so a crashed run never
    leaves a stale lock behind. The file itself is left in place: deleting it would let two
    processes lock two different inodes.
    """

    def __init__(self, ledger_path: Path) -> None:
        self.path = ledger_path.with_name(ledger_path.name + ".lock")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LedgerLockedError(
                str(ledger_path), f"another run holds it (lock {self.path}, pid {holder})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
