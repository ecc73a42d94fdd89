"""Bounded-memory digest sets and counters stay exact after spilling to SQLite."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from taskloader.checks.request import Code, CrossRowChecks
from taskloader.checks.spill import DigestCounter, DigestSet
from taskloader.mapping.mapper import TaskRequest


def test_digest_set_is_exact_across_memory_runs_and_the_spill() -> None:
    rng = random.Random(7)
    digests = [rng.getrandbits(64) for _ in range(5_000)] + [0, 2**64 - 1, 2**63]
    keys = DigestSet(chunk=100, memory_keys=1_000, bloom_bytes=256)  # a saturated Bloom filter
    seen: set[int] = set()
    for digest in digests + digests[::3]:
        assert keys.add(digest) is (digest in seen)
        seen.add(digest)
    assert keys.spilled > 0
    assert len(keys) == len(seen)


def test_digest_set_keeps_everything_in_memory_below_the_threshold() -> None:
    keys = DigestSet(chunk=10, memory_keys=1_000, bloom_bytes=64)
    for digest in range(500):
        assert not keys.add(digest)
    assert keys.add(123)
    assert keys.spilled == 0


def test_digest_counter_is_exact_across_spills() -> None:
    rng = random.Random(11)
    stream = [rng.randrange(300) * 0x9E3779B97F4A7C15 % 2**64 for _ in range(5_000)]
    counter = DigestCounter(memory_entries=50, bitmap_bytes=8)
    expected: Counter[int] = Counter()
    for digest in stream:
        expected[digest] += 1
        assert counter.increment(digest) == expected[digest]
    assert counter.spilled


@pytest.mark.parametrize("size", [3, 100])
def test_sizes_must_be_powers_of_two(size: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        DigestSet(bloom_bytes=size)
    with pytest.raises(ValueError, match="power of two"):
        DigestCounter(bitmap_bytes=size)


def test_cross_row_checks_after_spilling() -> None:
    cross = CrossRowChecks(
        keys=DigestSet(chunk=64, memory_keys=128, bloom_bytes=64),
        previous=DigestCounter(memory_entries=16, bitmap_bytes=8),
    )
    codes: list[list[str]] = []
    for i in range(2_000):
        request = TaskRequest(f"k{i % 1_500}", {"PreviousContactId": f"c{i % 150}"})
        codes.append([p.code for p in cross.check(request)])
    assert all(c == [] for c in codes[:1_500])
    assert all(Code.DUPLICATE_KEY in c for c in codes[1_500:])
    # c0..c49 reach 14 rows, c50..c149 13 rows: every row past the 12th of a contact is flagged.
    over = [i for i, c in enumerate(codes) if Code.PREVIOUS_CONTACT_LIMIT in c]
    assert len(over) == 50 * 2 + 100 * 1
    assert min(over) == 12 * 150
