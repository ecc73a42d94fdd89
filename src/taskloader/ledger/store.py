"""The SQLite ledger: one record per input row, batched commits in WAL mode, resume.

:class:`LedgerReader` is the read-only view (another process may use it while a run is live);
:class:`Ledger` is the single writer of a run and holds the local overlap lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog

from taskloader.errors import LedgerError
from taskloader.ledger import integrity
from taskloader.ledger.atomic import remove_stale_temps, temp_name
from taskloader.ledger.reader import LedgerReader
from taskloader.ledger.records import (
    LedgerRecord,
    PassCounts,
    RowOutcome,
    Staged,
    ToSend,
    identity,
)
from taskloader.ledger.schema import (
    DDL,
    MIGRATE_FROM_1,
    SCHEMA_VERSION,
    LockFile,
    RowStatus,
    connect,
    read_meta,
    write_meta,
)
from taskloader.ledger.target import LedgerTarget, check_input, check_target
from taskloader.ledger.writes import MARK_IN_DOUBT, STAGE, UPSERT

__all__ = [
    "Ledger",
    "LedgerReader",
    "LedgerRecord",
    "LedgerTarget",
    "PassCounts",
    "RowOutcome",
    "RowStatus",
    "Staged",
    "ToSend",
    "identity",
]

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Ledger(LedgerReader):
    """The writer of one run. Holds ``<path>.lock`` (flock) for its lifetime.

    Crash safety. The database runs in WAL mode with ``synchronous=NORMAL``: each
    :meth:`record` call is one transaction, appended to the WAL and not fsynced at commit
    (the WAL is fsynced at checkpoints). Two failure cases:

    * The process dies (``kill -9``, OOM, a crash): the committed transactions are in the WAL
      file, which the OS still writes out; the next open replays them. Nothing committed is
      lost and an uncommitted batch is discarded whole, never half-applied.
    * The machine loses power: the last few batches committed since the last WAL sync may be
      lost (the database is still consistent). Those rows were sent, but their outcome is gone,
      so on resume they are unknown or non-terminal and are sent again with the same
      ClientToken, which StartTaskContact treats as the same request: no duplicate task. So
      the cost of ``synchronous=NORMAL`` is a few repeated idempotent calls, not correctness,
      and it saves an fsync per batch.
    """

    def __init__(
        self, path: Path, conn: sqlite3.Connection, meta: Mapping[str, str | None], lock: LockFile
    ) -> None:
        super().__init__(path, conn, meta)
        self._lock = lock
        self._open = True

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        batch_id: str | None,
        input_name: str,
        fingerprint: str | None,
        columns: Sequence[str],
        force: bool = False,
        target: LedgerTarget | None = None,
        new_batch_id: str | None = None,
    ) -> Ledger:
        """Create the ledger at ``path``, or reopen it to resume.

        New: the batch id is ``batch_id``, else ``new_batch_id`` (the run's derived default),
        else a fresh uuid4 hex; the ledger is created whole
        (see :mod:`taskloader.ledger.integrity`). Existing: the stored batch id is kept (an
        explicit different ``batch_id`` is a LedgerError); another input (other file name and
        content) is LedgerOtherInputError; a changed ``fingerprint`` is LedgerMismatchError
        unless ``force``, which records the new one; another ``target`` is LedgerTargetError
        (``None``: not checked). A damaged file (empty, lost or foreign ``-wal``, a table or
        the batch id missing) is LedgerDamagedError, never taken for a new ledger.
        ``columns`` is the input's column order (empty for JSONL). Raises LedgerLockedError if
        another live run holds the ledger.
        """
        p = Path(path).absolute()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            lock = LockFile(p)
        except OSError as exc:
            raise LedgerError(
                str(p), f"cannot create the ledger directory or lock file: {exc}"
            ) from exc
        try:
            if not integrity.inspect(p):
                new = batch_id or new_batch_id
                integrity.create_atomically(
                    p, lambda c: _create(c, new, input_name, fingerprint, columns, target)
                )
            conn = connect(p, readonly=False)
            try:
                meta = _prepare(conn, p, batch_id, input_name, fingerprint, columns, force, target)
                integrity.open_session(conn, p, meta)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            lock.release()
            raise
        return cls(p, conn, meta, lock)

    def record(self, outcomes: Iterable[RowOutcome]) -> None:
        """Upsert a batch of outcomes by row identity, in one transaction.

        A row already ``succeeded`` is never changed again; the token and the original row
        are kept from the first write; attempts add up.
        """
        with self._mu:
            pass_no = self.pass_no
            self._transaction(
                lambda c: c.executemany(UPSERT, (o.params(pass_no) for o in outcomes))
            )

    def mark_in_doubt(self, ident: str) -> None:
        """Note that the row ``ident`` is being sent by an operation without a ClientToken:
        should the run end before its answer is recorded, the next run knows the request may
        have been carried out (:attr:`ToSend.in_doubt`). The row's outcome replaces the mark."""
        now = datetime.now(UTC).isoformat()
        with self._mu:
            self._transaction(lambda c: c.execute(MARK_IN_DOUBT, (now, ident)))

    def set_columns(self, columns: Sequence[str]) -> None:
        """The input's column order as the latest pass read it (the result files use it)."""
        if columns:
            with self._mu:
                self._write_meta({"columns": json.dumps(list(columns))})

    def begin_pass(self) -> int:
        """Start the pre-flight pass of a new run: every row it stages belongs to it."""
        with self._mu:
            self._write_meta({"pass": str(self.pass_no + 1), "pass_complete": "0"})
        return self.pass_no

    def stage(self, rows: Iterable[Staged]) -> None:
        """Record a chunk of the pre-flight pass in one transaction (``writes.STAGE``)."""
        with self._mu:
            pass_no = self.pass_no
            self._transaction(lambda c: c.executemany(STAGE, (r.params(pass_no) for r in rows)))

    def end_pass(self) -> None:
        """The pre-flight pass read the whole input: counts now describe all of it."""
        with self._mu:
            self._write_meta({"pass_complete": "1"})

    def _write_meta(self, values: dict[str, str | None]) -> None:
        self._transaction(lambda c: write_meta(c, values))
        self._meta.update(values)

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` in one write transaction, stamped for the integrity checks; a SQLite error
        (a full disk, a read-only file) is a LedgerError. The caller holds ``_mu``."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(self._conn)
                integrity.stamp_commit(self._conn)
                self._conn.execute("COMMIT")
                return result
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(str(self.path), f"write failed: {exc}") from exc

    def redrive_failed(self, *, succeeded: bool = False) -> int:
        """Turn the current pass's ``failed`` rows (and ``succeeded`` ones: a read-only
        operation such as verify that checks every row anew) back into ``pending``."""
        statuses = "('failed', 'succeeded')" if succeeded else "('failed')"
        sql = (
            "UPDATE records SET status = 'pending', error_code = NULL, "
            f"error_message = NULL WHERE status IN {statuses} AND pass = ?"
        )
        with self._mu:
            cur = self._transaction(lambda c: c.execute(sql, (self.pass_no,)))
        log.info("ledger_redrive", rows=cur.rowcount)
        return cur.rowcount

    def set_settings(self, settings: Mapping[str, Any]) -> None:
        """Store the run's settings (free-form JSON, no secrets) in the meta table."""
        value = json.dumps(dict(settings), sort_keys=True, default=str)
        with self._mu:
            self._write_meta({"settings": value})

    def backup_to(self, dest: str | os.PathLike[str]) -> Path:
        """Write a consistent single-file snapshot to ``dest`` (atomically) while the run goes on.

        The copy is taken through a separate read connection (a WAL snapshot: the writer is not
        blocked) and switched to rollback-journal mode, so it is one self-contained file.
        """
        out = Path(dest)
        remove_stale_temps(out)
        tmp = temp_name(out)
        tmp.unlink(missing_ok=True)
        src = connect(self.path, readonly=True)
        try:
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
                integrity.mark_snapshot_closed(dst)
            finally:
                dst.close()
            tmp.replace(out)
        except sqlite3.Error as exc:
            tmp.unlink(missing_ok=True)
            raise LedgerError(str(self.path), f"snapshot to {out} failed: {exc}") from exc
        finally:
            src.close()
        return out

    def close(self) -> None:
        try:
            with self._mu:
                if self._open:
                    self._open = False
                    integrity.close_session(self._conn)
            super().close()
        finally:
            self._lock.release()


def _create(
    conn: sqlite3.Connection,
    batch_id: str | None,
    input_name: str,
    fingerprint: str | None,
    columns: Sequence[str],
    target: LedgerTarget | None,
) -> None:
    """The schema and meta of a new ledger (inside the creating transaction)."""
    for statement in DDL:
        conn.execute(statement)
    meta: dict[str, str | None] = {
        "schema_version": str(SCHEMA_VERSION),
        "batch_id": batch_id or uuid.uuid4().hex,
        "input_name": input_name,
        "fingerprint": fingerprint,
        "created_at": datetime.now(UTC).isoformat(),
        "columns": json.dumps(list(columns)),
        "settings": "{}",
        "pass": "0",
        "pass_complete": "0",
    }
    if target is not None:
        meta.update(target.to_meta())
    write_meta(conn, meta)


def _prepare(
    conn: sqlite3.Connection,
    path: Path,
    batch_id: str | None,
    input_name: str,
    fingerprint: str | None,
    columns: Sequence[str],
    force: bool,
    target: LedgerTarget | None,
) -> dict[str, str | None]:
    """Check an existing ledger against the run; store what the run adds to it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        meta = read_meta(conn, path)
        if meta.get("schema_version") == "1":
            meta.update(_migrate(conn))
        updates = _reopen_updates(meta, path, batch_id, input_name, fingerprint, columns, force)
        sent = conn.execute(
            "SELECT count(*) FROM records WHERE status = 'succeeded' "
            "OR (attempts > 0 AND error_code IS NULL)"  # an answer lost: a task may exist
        ).fetchone()[0]
        stored = LedgerTarget.from_meta(meta)
        updates.update(check_target(str(path), stored, target, sent=int(sent)))
        write_meta(conn, updates)
        meta.update(updates)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return meta


def _reopen_updates(
    meta: Mapping[str, str | None],
    path: Path,
    batch_id: str | None,
    input_name: str,
    fingerprint: str | None,
    columns: Sequence[str],
    force: bool,
) -> dict[str, str | None]:
    stored_batch = meta.get("batch_id")
    if batch_id is not None and batch_id != stored_batch:
        raise LedgerError(
            str(path),
            f"it belongs to batch id {stored_batch!r}, not the requested {batch_id!r}; "
            "omit --batch-id to resume it, or use a new ledger to import under a new batch id",
        )
    updates: dict[str, str | None] = {}
    if check_input(str(path), meta, input_name, fingerprint, force):
        log.warning("ledger_fingerprint_forced", input=input_name, stored=meta.get("fingerprint"))
        updates.update(fingerprint=fingerprint, input_name=input_name)
        updates["columns"] = json.dumps(list(columns))
    elif meta.get("fingerprint") is None and fingerprint is not None:
        updates["fingerprint"] = fingerprint
    if columns and not json.loads(meta.get("columns") or "[]"):
        updates["columns"] = json.dumps(list(columns))
    return updates


def _migrate(conn: sqlite3.Connection) -> dict[str, str | None]:
    """Upgrade a schema-1 ledger in place (inside the caller's transaction)."""
    for statement in MIGRATE_FROM_1:
        conn.execute(statement)
    updates: dict[str, str | None] = {
        "schema_version": str(SCHEMA_VERSION),
        "pass": "1",
        "pass_complete": "1",
    }
    write_meta(conn, updates)
    log.info("ledger.migrated", from_schema=1, to_schema=SCHEMA_VERSION)
    return updates
