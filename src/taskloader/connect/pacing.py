"""The send-rate limiter for StartTaskContact: exact rate + burst, FIFO, adaptive on throttling.

:class:`Pacer` is a token bucket of capacity ``burst`` refilled at the current rate. It starts
full, so the first ``burst`` sends go at once and after that one token comes every ``1/rate``
seconds. Over any window of length W the number of tokens granted is at most
``rate x W + burst`` (the bucket can hold at most ``burst`` at the start of the window and
gains at most ``rate x W`` during it); start-up included.

Why not :class:`aiolimiter.AsyncLimiter` underneath: ``AsyncLimiter(B, B / R)`` does honour the
rate + burst bound (its leaky bucket starts empty, which lets exactly B through at once), but in
aiolimiter 1.3.0 a task arriving while a woken waiter has not yet run takes the capacity first,
and the waiter it overtook re-queues behind everybody with a new sequence number; with 200
tasks arriving at random times into a 200/s limiter, 42 were granted out of arrival order.
It also has no public way to change the rate at run time (the adaptive part needs that) and
reads the asyncio loop clock directly, so tests could not inject a clock. The bucket below is
small, exact, FIFO and backend-neutral: an anyio ``Lock`` (which hands itself to waiters in
arrival order) admits one waiter at a time, and only that head waiter sleeps for a token.

Headroom. ``rate`` and ``burst`` are the quota to stay under (``--rate``/``--burst``, by default
the account's StartTaskContact quota, 2/s burst 5). Pacing exactly at the quota is throttled
within a second: after the start-up burst the account's bucket is empty and refills at the very
rate the requests come in, so any request that arrives a little early or bunched with others
(network and scheduling jitter, the first requests waiting for their connections) finds no
token. So the bucket runs under the quota: rate ``r = R x (1 - headroom)`` (headroom 10 %) and
capacity ``b = B - max(1, ceil(r x JITTER_S))`` (at most ``B x 0.9``, at least 1), with
``JITTER_S`` = 0.15 s. Requests then may arrive up to ``(B - b) / r`` seconds bunched (0.55 s
at the defaults, where ``b`` = 4; 0.17 s at 20/s burst 5, where ``b`` = 2) without a throttle,
and the account's bucket gains another ``R - r`` tokens a second as the run goes on. The cost is
a run about 10 % longer than the quota would allow.

Adaptive (AIMD): :meth:`Pacer.on_throttle` multiplies the rate by ``decrease_factor`` (0.75,
never below ``min_rate``) and then ignores further throttles for ``cooldown`` seconds and
throttles of requests sent before the cut, so the answers of requests already in flight do not
each cut it again. :meth:`Pacer.on_success` adds ``increase_per_s`` (a tenth of the pacing rate)
for each second of successful sending, in whole-second steps, never above the pacing rate: an
isolated throttle costs a 25 % cut for the 2 s cool-down and about 3 s of climbing back, not
minutes. Sustained throttling (other traffic on the same quota) still cuts again after each
cool-down. Every change is logged as ``pacing.rate_changed``.

Clocks: every component takes ``clock`` (seconds, monotonic) and ``sleep``; they default to
anyio's, and tests pass a fake pair so nothing waits.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import anyio
import structlog

__all__ = ["HEADROOM", "JITTER_S", "Clock", "Pacer", "Sleep"]

#: How far under the configured rate the bucket runs (see the module docstring).
HEADROOM = 0.1
#: The bunching of arrivals, in seconds, the bucket's capacity leaves room for under the burst.
JITTER_S = 0.15

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger(__name__)

# Grant a token when the bucket is this close to holding one: a float sum of elapsed times can
# land a hair under 1.0 after an exact sleep, and another sleep of 1e-12 s helps nobody.
_EPSILON = 1e-9


class Pacer:
    """Rate + burst token bucket shared by every sender of a run.

    :param rate: the quota to stay under, requests per second (``--rate``).
    :param burst: the quota's burst (``--burst``).
    :param headroom: the fraction the bucket's rate stays under ``rate`` (its capacity under
        ``burst`` as described above); 0 paces exactly at them (rate ``R``, capacity ``B``).
    :param min_rate: floor for adaptive decreases; default 5 % of the pacing rate, at least
        0.1/s (or the pacing rate itself when that is lower).
    :param decrease_factor: multiplier applied on a throttle.
    :param increase_per_s: rate added per second of successful sending; default a tenth of
        the pacing rate (back from a 25 % cut in under 3 s of success).
    :param cooldown: seconds after a cut during which throttles do not cut again and the rate
        does not climb.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        headroom: float = HEADROOM,
        min_rate: float | None = None,
        decrease_factor: float = 0.75,
        increase_per_s: float | None = None,
        cooldown: float = 2.0,
        clock: Clock = anyio.current_time,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        if not 0 < decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), got {decrease_factor!r}")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), got {headroom!r}")
        pace = rate * (1.0 - headroom)
        if headroom > 0:
            reserve = max(1, math.ceil(pace * JITTER_S))
            burst = max(1, min(burst - reserve, math.floor(burst * (1.0 - headroom))))
        floor = min(pace, max(0.1, pace * 0.05)) if min_rate is None else min_rate
        if not 0 < floor <= pace:
            raise ValueError(f"min_rate must be in (0, rate={pace:g}], got {floor!r}")
        self._max_rate = float(pace)
        self._min_rate = float(floor)
        self._burst = burst
        self._decrease = decrease_factor
        self._increase = pace / 10 if increase_per_s is None else increase_per_s
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep

        self._rate = self._max_rate
        self._tokens = float(burst)
        self._refilled_at: float | None = None
        self._lock: anyio.Lock | None = None

        self._last_cut: float | None = None
        self._last_success: float | None = None
        self._credit = 0.0  # seconds of successful sending not yet turned into a rate step
        self._throttles = 0
        self._cuts = 0

    # -- what the progress display and the summary read --------------------------------------

    @property
    def rate(self) -> float:
        """The current sending rate, requests per second."""
        return self._rate

    @property
    def max_rate(self) -> float:
        """The pacing ceiling: the configured rate less the headroom."""
        return self._max_rate

    @property
    def burst(self) -> int:
        """The bucket's capacity: the configured burst less the headroom."""
        return self._burst

    @property
    def throttles(self) -> int:
        """Throttling responses reported, including those ignored by the cool-down."""
        return self._throttles

    @property
    def rate_cuts(self) -> int:
        """How many times a throttle cut the rate."""
        return self._cuts

    # -- the bucket ----------------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for a token, in arrival order; return the clock time it was granted.

        Pass the returned time as ``sent_at`` to :meth:`on_throttle`.
        """
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            while True:
                now = self._refill()
                if self._tokens >= 1.0 - _EPSILON:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return now
                # Re-checked after the sleep: the rate may have been cut meanwhile.
                await self._sleep((1.0 - self._tokens) / self._rate)

    def _refill(self) -> float:
        now = self._clock()
        if self._refilled_at is not None:
            elapsed = max(0.0, now - self._refilled_at)
            self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate)
        self._refilled_at = now
        return now

    def _set_rate(self, new: float, reason: str) -> None:
        self._refill()  # tokens earned so far accrue at the old rate
        old, self._rate = self._rate, new
        log.info(
            "pacing.rate_changed",
            old_rate=round(old, 4),
            new_rate=round(new, 4),
            reason=reason,
            throttles=self._throttles,
        )

    # -- adaptation ----------------------------------------------------------------------------

    def on_throttle(self, *, sent_at: float | None = None) -> bool:
        """A request was throttled; cut the rate unless this is an echo of a recent cut.

        ``sent_at`` is the time :meth:`acquire` granted that request's token; a request sent
        before the last cut says nothing new. Returns whether the rate was cut.
        """
        self._throttles += 1
        now = self._clock()
        self._last_success = None
        self._credit = 0.0
        if self._last_cut is not None:
            if now < self._last_cut + self._cooldown:
                return False
            if sent_at is not None and sent_at < self._last_cut:
                return False
        self._last_cut = now
        new = max(self._min_rate, self._rate * self._decrease)
        if new >= self._rate:
            return False  # already at the floor
        self._cuts += 1
        self._set_rate(new, "throttled")
        return True

    def on_success(self) -> None:
        """A request went through without throttling; climb back towards the configured rate."""
        now = self._clock()
        if self._rate >= self._max_rate:
            return
        if self._last_cut is not None and now < self._last_cut + self._cooldown:
            return
        previous, self._last_success = self._last_success, now
        if previous is None:
            return
        # Count the gap as sending time only up to two send intervals (at least 1 s): a long
        # silence (a quota pause, an empty input stream) is not a stretch of success.
        self._credit += min(now - previous, max(1.0, 2.0 / self._rate))
        steps = int(self._credit)
        if steps:
            self._credit -= steps
            self._set_rate(min(self._max_rate, self._rate + steps * self._increase), "recovering")
