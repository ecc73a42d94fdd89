"""API rate quotas: one token bucket per operation for the (single) emulated account."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from taskloader.emulator.settings import Quota


class TokenBucket:
    """Refills ``rate`` tokens per second up to ``burst``; starts full."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, quota: Quota, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = quota.rate
        self.burst = float(quota.burst)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def take(self) -> bool:
        """Take one token if there is one; ``False`` means throttle."""
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


class Quotas:
    """The buckets of every operation; an operation with no quota is never throttled."""

    def __init__(
        self, quotas: Mapping[str, Quota | None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._quotas: dict[str, Quota | None] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self.update(quotas)

    def update(self, quotas: Mapping[str, Quota | None]) -> None:
        """Set (or turn off with ``None``) the quotas named; each named bucket starts full."""
        for op, quota in quotas.items():
            self._quotas[op] = quota
            if quota is None:
                self._buckets.pop(op, None)
            else:
                self._buckets[op] = TokenBucket(quota, self._clock)

    def reset(self) -> None:
        self.update(dict(self._quotas))

    def allow(self, operation: str) -> bool:
        bucket = self._buckets.get(operation)
        return bucket is None or bucket.take()

    def to_json(self) -> dict[str, dict[str, float] | None]:
        return {op: (q.to_json() if q else None) for op, q in self._quotas.items()}
