"""The read-only view of a ledger, and the input fingerprint.

:class:`LedgerReader` works while a run is live in another process: it opens the database with
``mode=ro`` and takes no lock (WAL readers never block the writer and see committed batches only).
"""

from __future__ import annotations

import heapq
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from taskloader.errors import LedgerDamagedError, LedgerError
from taskloader.ledger.records import (
    RECORD_COLUMNS,
    LedgerRecord,
    PassCounts,
    ToSend,
    record_from_row,
)
from taskloader.ledger.schema import RESTORE_ADVICE, RowStatus, connect, read_meta
from taskloader.ledger.writes import IN_DOUBT


class LedgerReader:
    """A read-only view of a ledger: meta, counts, records in input order.

    Opened with ``mode=ro`` and no lock, so it works while a run writes (WAL readers never
    block the writer and see only committed batches). Calls are serialised by a mutex so a
    ledger can be shared by anyio worker threads.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, meta: Mapping[str, str | None]):
        self.path = path
        self._conn = conn
        self._meta = dict(meta)
        self._mu = threading.Lock()

    def iter_absent(self) -> Iterator[LedgerRecord]:
        """Rows sent by an earlier pass whose key is no longer in the input, by record number."""
        sql = (
            f"SELECT {RECORD_COLUMNS} FROM records WHERE pass < ? AND (attempts > 0 OR "
            "status IN ('succeeded', 'failed')) ORDER BY number"
        )
        for row in self._query(sql, (self.pass_no,)):
            yield record_from_row(row)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> LedgerReader:
        p = Path(path).absolute()
        if not p.is_file():
            raise LedgerError(str(p), "no such ledger file")
        if p.stat().st_size == 0:
            raise LedgerDamagedError(str(p), f"it is an empty file (0 bytes). {RESTORE_ADVICE}")
        conn = connect(p, readonly=True)
        try:
            meta = read_meta(conn, p)
            if meta.get("schema_version") == "1":
                raise LedgerError(
                    str(p),
                    "written by an older taskloader (rows kept by position); `taskloader run` "
                    "with this ledger upgrades it in place (rows are then kept by key)",
                )
        except BaseException:
            conn.close()
            raise
        return cls(p, conn, meta)

    # -- meta -------------------------------------------------------------------------------
    @property
    def batch_id(self) -> str:
        return self._meta["batch_id"] or ""

    @property
    def input_name(self) -> str:
        return self._meta.get("input_name") or ""

    @property
    def fingerprint(self) -> str | None:
        return self._meta.get("fingerprint")

    @property
    def created_at(self) -> str:
        return self._meta.get("created_at") or ""

    @property
    def columns(self) -> tuple[str, ...]:
        """The input's column order (CSV header); empty for JSONL inputs."""
        return tuple(json.loads(self._meta.get("columns") or "[]"))

    @property
    def pass_no(self) -> int:
        """The latest pre-flight pass: the rows it staged are the input as last read."""
        return int(self._meta.get("pass") or 0)

    @property
    def pass_complete(self) -> bool:
        """Whether the latest pre-flight pass read the whole input."""
        return self._meta.get("pass_complete") == "1"

    @property
    def settings(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self._meta.get("settings") or "{}")
        return value

    # -- reads ------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rows of the current pass per status, every status present (zero when none)."""
        counts = {s.value: 0 for s in RowStatus}
        sql = "SELECT status, count(*) FROM records WHERE pass = ? GROUP BY status"
        for status, n in self._query(sql, (self.pass_no,)):
            counts[status] = n
        return counts

    def pass_counts(self) -> PassCounts:
        """:meth:`counts`, the rows of earlier passes that were sent but are no longer in the
        input (their key disappeared), and how many rows of this pass were ever sent."""
        absent = self._query(
            "SELECT count(*) FROM records WHERE pass < ? AND (attempts > 0 OR status IN "
            "('succeeded', 'failed'))",
            (self.pass_no,),
        )[0][0]
        attempted = self._query(
            "SELECT count(*) FROM records WHERE pass = ? AND attempts > 0", (self.pass_no,)
        )[0][0]
        return PassCounts(self.counts(), int(absent), int(attempted))

    def to_send(self, after: int, limit: int = 256) -> list[ToSend]:
        """The current pass's rows still to send (``pending``, ``unprocessed``) after record
        number ``after``, in input order: one short read per call, so the WAL never pins."""
        rows = self._query(
            "SELECT ident, number, line, key, token, raw, error_code FROM records "
            "WHERE pass = ? AND status IN ('pending', 'unprocessed') AND number > ? "
            "ORDER BY number LIMIT ?",
            (self.pass_no, after, limit),
        )
        return [
            ToSend(
                ident, number, line, key, token, json.loads(raw) if raw else {}, code == IN_DOUBT
            )
            for ident, number, line, key, token, raw, code in rows
        ]

    def iter_records(
        self, statuses: Iterable[RowStatus | str] | None = None
    ) -> Iterator[LedgerRecord]:
        """Records of the current pass with the given statuses (all when None), streamed in
        input order.

        Reads through its own connection inside one read transaction: a consistent snapshot,
        even while the writer commits, and the writer's connection stays free.
        """
        wanted = [RowStatus(s) for s in (statuses if statuses is not None else RowStatus)]
        conn = connect(self.path, readonly=True)
        pass_no = self.pass_no
        try:
            conn.execute("BEGIN")
            per_status = [
                conn.execute(
                    f"SELECT {RECORD_COLUMNS} FROM records WHERE pass = ? AND status = ? "
                    "ORDER BY number",
                    (pass_no, status.value),
                )
                for status in dict.fromkeys(wanted)
            ]
            for row in heapq.merge(*per_status, key=lambda r: int(r[0])):
                yield record_from_row(row)
        except sqlite3.Error as exc:
            raise LedgerError(str(self.path), f"read failed: {exc}") from exc
        finally:
            conn.close()

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._mu:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(str(self.path), f"read failed: {exc}") from exc

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        with self._mu:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
