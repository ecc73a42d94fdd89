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
    Bitmap,
    LedgerRecord,
    ResumePlan,
    record_from_row,
)
from taskloader.ledger.schema import RESTORE_ADVICE, TERMINAL, RowStatus, connect, read_meta


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
    def settings(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self._meta.get("settings") or "{}")
        return value

    # -- reads ------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rows per status, every status present (zero when none)."""
        counts = {s.value: 0 for s in RowStatus}
        for status, n in self._query("SELECT status, count(*) FROM records GROUP BY status"):
            counts[status] = n
        return counts

    def resume_plan(self) -> ResumePlan:
        """Bitmaps of terminal rows (skip) and stored non-terminal rows (resend, stored token)."""
        with self._mu:
            self._conn.execute("BEGIN")
            try:
                last = self._conn.execute("SELECT coalesce(max(number), 0) FROM records")
                size = int(last.fetchone()[0])
                done, stored = Bitmap(size), Bitmap(size)
                for status in RowStatus:
                    target = done if status in TERMINAL else stored
                    cur = self._conn.execute(
                        "SELECT number FROM records WHERE status = ?", (status.value,)
                    )
                    for (number,) in cur:
                        target.add(number)
            finally:
                self._conn.execute("COMMIT")
        return ResumePlan(done=done, stored=stored, last=size)

    def tokens_for(self, numbers: Iterable[int]) -> dict[int, str]:
        """Stored ClientTokens of the given record numbers (rows absent or tokenless omitted)."""
        wanted = list(numbers)
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT number, token FROM records WHERE number IN ({marks})"
            found.update((n, t) for n, t in self._query(sql, chunk) if t is not None)
        return found

    def token_for(self, number: int) -> str | None:
        return self.tokens_for([number]).get(number)

    def iter_records(
        self, statuses: Iterable[RowStatus | str] | None = None
    ) -> Iterator[LedgerRecord]:
        """Records with the given statuses (all when None), streamed in input order.

        Reads through its own connection inside one read transaction: a consistent snapshot,
        even while the writer commits, and the writer's connection stays free.
        """
        wanted = [RowStatus(s) for s in (statuses if statuses is not None else RowStatus)]
        conn = connect(self.path, readonly=True)
        try:
            conn.execute("BEGIN")
            per_status = [
                conn.execute(
                    f"SELECT {RECORD_COLUMNS} FROM records WHERE status = ? ORDER BY number",
                    (status.value,),
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
