"""Bounded-memory sets and counters of 64-bit digests for the cross-row checks.

Both keep a fixed amount in memory and spill the rest to one private temporary SQLite database
(``sqlite3.connect("")``: created on first spill under ``$TMPDIR``, deleted when closed), so
validating 5M rows uses the same memory as 1M. The trade-off: past the in-memory part, each new
chunk of keys costs one batched insert, and a look-up the in-memory filters cannot rule out costs
one indexed SQLite query (a few µs).
"""

from __future__ import annotations

import mmap
import sqlite3

_SIGN = 1 << 63  # digests are unsigned 64-bit; SQLite integers are signed


def _spill_db() -> sqlite3.Connection:
    db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -4096")  # KiB: the page cache stays at 4 MiB
    return db


class DigestSet:
    """A set of 64-bit digests: an open-addressing table, then a Bloom-filtered SQLite spill.

    The first ``memory_keys`` digests go into a table of twice as many 8-byte slots (linear
    probing, at most half full): 16 MiB for the default 1M, one or two probes a digest, and no
    sorting or rebuilding. Digests past that are batched in a Python set and every ``chunk`` of
    them inserted into a private SQLite file; a one-probe Bloom filter over the spilled digests
    (``bloom_bytes``) keeps SQLite look-ups to the digests it cannot rule out (~6% with 8 MiB
    and 4M spilled). The filter is allocated up front, so a file past 1M keys adds only the
    small batch and SQLite's bounded page cache to the memory of a smaller one.
    """

    def __init__(
        self, chunk: int = 1 << 14, memory_keys: int = 1 << 20, bloom_bytes: int = 1 << 23
    ) -> None:
        if bloom_bytes & (bloom_bytes - 1):
            raise ValueError("bloom_bytes must be a power of two")
        slots = 1 << max(2 * memory_keys - 1, 1).bit_length()
        # Anonymous memory reads as zeros (0 marks a free slot) and is only backed by RAM where
        # written, so a small file does not pay for 16 MiB.
        self._table = memoryview(mmap.mmap(-1, 8 * slots)).cast("Q")
        self._table_mask = slots - 1
        self._room = memory_keys  # free places left in the table
        self._zero = False  # digest 0 cannot sit in the table
        self._chunk = chunk
        self._bloom = bytearray(bloom_bytes)
        self._mask = bloom_bytes * 8 - 1
        self._recent: set[int] = set()
        self._db: sqlite3.Connection | None = None
        self._stored = 0
        self._spilled = 0

    @property
    def spilled(self) -> int:
        """How many digests live in the SQLite spill."""
        return self._spilled

    def __len__(self) -> int:
        return self._stored + self._zero

    def add(self, digest: int) -> bool:
        """Add ``digest``; True if it was already there."""
        if not digest:
            seen, self._zero = self._zero, True
            return seen
        table = self._table
        mask = self._table_mask
        at = digest & mask
        slot = table[at]
        while slot:
            if slot == digest:
                return True
            at = (at + 1) & mask
            slot = table[at]
        self._stored += 1
        if self._room:
            self._room -= 1
            table[at] = digest
            return False
        return self._add_past_table(digest)

    def _add_past_table(self, digest: int) -> bool:
        recent = self._recent
        if digest in recent or (self._db is not None and self._in_spill(digest)):
            self._stored -= 1
            return True
        recent.add(digest)
        if len(recent) >= self._chunk:
            self._flush()
        return False

    def _in_spill(self, digest: int) -> bool:
        at = digest & self._mask
        if not self._bloom[at >> 3] & (1 << (at & 7)):
            return False
        assert self._db is not None
        found = self._db.execute("SELECT 1 FROM k WHERE d = ?", (digest - _SIGN,)).fetchone()
        return found is not None

    def _flush(self) -> None:
        if self._db is None:
            self._db = _spill_db()
            self._db.execute("CREATE TABLE k (d INTEGER PRIMARY KEY)")
        bloom, mask = self._bloom, self._mask
        for digest in self._recent:
            at = digest & mask
            bloom[at >> 3] |= 1 << (at & 7)
        self._db.execute("BEGIN")  # one transaction per flush
        self._db.executemany("INSERT INTO k VALUES (?)", ((d - _SIGN,) for d in self._recent))
        self._db.execute("COMMIT")
        self._spilled += len(self._recent)
        self._recent = set()


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
