"""Bounded-memory sets and counters of 64-bit digests for the cross-row checks.

Both keep a fixed amount in memory and spill the rest to one private temporary SQLite database
(``sqlite3.connect("")``: created on first spill under ``$TMPDIR``, deleted when closed), so
validating 5M rows uses the same memory as 1M. The trade-off: past the in-memory part, each new
chunk of keys costs one batched insert, and a look-up the in-memory filters cannot rule out costs
one indexed SQLite query (a few µs) instead of a bisect.
"""

from __future__ import annotations

import bisect
import sqlite3
from array import array

_SIGN = 1 << 63  # digests are unsigned 64-bit; SQLite integers are signed


def _spill_db() -> sqlite3.Connection:
    db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -4096")  # KiB: the page cache stays at 4 MiB
    return db


class DigestSet:
    """A set of 64-bit digests: a Bloom filter, a small Python set, sorted runs, then SQLite.

    Recent digests sit in a Python set; every ``chunk`` of them becomes one sorted ``array``
    run (8 bytes a digest). Once the runs hold ``memory_keys`` digests they move to SQLite, and
    so does every later run. A one-probe Bloom filter (``bloom_bytes``) keeps run and SQLite
    look-ups to the digests it cannot rule out: with 16 MiB ~0.8% of them at 1M keys, ~4% at
    5M. One probe, not two: the probe is most of the per-key cost, paid on every row.
    """

    def __init__(
        self, chunk: int = 1 << 17, memory_keys: int = 1 << 20, bloom_bytes: int = 1 << 24
    ) -> None:
        if bloom_bytes & (bloom_bytes - 1):
            raise ValueError("bloom_bytes must be a power of two")
        self._bloom = bytearray(bloom_bytes)
        self._mask = bloom_bytes * 8 - 1
        self._chunk = chunk
        self._memory_keys = memory_keys
        self._recent: set[int] = set()
        self._runs: list[array[int]] = []
        self._in_runs = 0
        self._db: sqlite3.Connection | None = None
        self._spilled = 0

    @property
    def spilled(self) -> int:
        """How many digests live in the SQLite spill."""
        return self._spilled

    def __len__(self) -> int:
        return len(self._recent) + self._in_runs + self._spilled

    def add(self, digest: int) -> bool:
        """Add ``digest``; True if it was already there."""
        at = digest & self._mask
        bit = 1 << (at & 7)
        at >>= 3
        bloom = self._bloom
        if bloom[at] & bit:
            if digest in self._recent or self._in_older(digest):
                return True
        else:
            bloom[at] |= bit
        recent = self._recent
        recent.add(digest)
        if len(recent) >= self._chunk:
            self._flush()
        return False

    def _flush(self) -> None:
        run = array("Q", sorted(self._recent))
        self._recent = set()
        if self._db is None and self._in_runs + len(run) <= self._memory_keys:
            self._runs.append(run)
            self._in_runs += len(run)
            return
        if self._db is None:
            self._db = _spill_db()
            self._db.execute("CREATE TABLE k (d INTEGER PRIMARY KEY)")
        runs, self._runs, self._in_runs = [*self._runs, run], [], 0
        self._db.execute("BEGIN")  # one transaction per flush
        for old in runs:
            self._db.executemany("INSERT INTO k VALUES (?)", ((d - _SIGN,) for d in old))
            self._spilled += len(old)
        self._db.execute("COMMIT")

    def _in_older(self, digest: int) -> bool:
        for run in self._runs:
            i = bisect.bisect_left(run, digest)
            if i < len(run) and run[i] == digest:
                return True
        if self._db is None:
            return False
        found = self._db.execute("SELECT 1 FROM k WHERE d = ?", (digest - _SIGN,)).fetchone()
        return found is not None


class DigestCounter:
    """Counts per 64-bit digest; at most ``memory_entries`` counts in a dict, the rest in SQLite.

    The dict holds absolute counts. When it is full its counts go to SQLite and a bitmap marks
    their digests, so a digest never spilled is never looked up.
    """

    def __init__(self, memory_entries: int = 100_000, bitmap_bytes: int = 1 << 20) -> None:
        if bitmap_bytes & (bitmap_bytes - 1):
            raise ValueError("bitmap_bytes must be a power of two")
        self._counts: dict[int, int] = {}
        self._limit = memory_entries
        self._bitmap = bytearray(bitmap_bytes)
        self._mask = bitmap_bytes * 8 - 1
        self._db: sqlite3.Connection | None = None

    @property
    def spilled(self) -> bool:
        return self._db is not None

    def increment(self, digest: int) -> int:
        """Count one more ``digest``; the new count."""
        counts = self._counts
        count = counts.get(digest)
        if count is None:
            count = 0
            bit = digest & self._mask
            if self._db is not None and self._bitmap[bit >> 3] & (1 << (bit & 7)):
                sql = "SELECT n FROM p WHERE d = ?"
                found = self._db.execute(sql, (digest - _SIGN,)).fetchone()
                count = int(found[0]) if found is not None else 0
        count += 1
        counts[digest] = count
        if len(counts) >= self._limit:
            self._flush()
        return count

    def _flush(self) -> None:
        if self._db is None:
            self._db = _spill_db()
            self._db.execute("CREATE TABLE p (d INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        bitmap, mask = self._bitmap, self._mask
        for digest in self._counts:
            bit = digest & mask
            bitmap[bit >> 3] |= 1 << (bit & 7)
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR REPLACE INTO p VALUES (?, ?)",
            ((d - _SIGN, n) for d, n in self._counts.items()),
        )
        self._db.execute("COMMIT")
        self._counts = {}
