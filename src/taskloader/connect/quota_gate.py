"""The active-task quota gate: pause all sending, let exactly one sender probe, resume or give up.

When StartTaskContact answers ServiceQuotaExceededException for the instance's active-task
quota (not the 12-per-PreviousContactId rule), sending anything else is pointless until agents
close tasks. The sender that sees it calls :meth:`QuotaGate.pause`; from then on every sender
entering :meth:`QuotaGate.admit` blocks, except one: the first to find no prober becomes the
prober, sleeps until the next probe time and then sends its own row as the probe.

- probe succeeds (or gets any answer that is not the quota) -> the prober calls
  :meth:`QuotaGate.resume` and everybody goes on (still through the pacer, so no burst);
- probe hits the quota again, fails in transit, or the prober is cancelled -> the next probe is
  scheduled after a capped exponential backoff (``probe_base x 2**n``, at most ``probe_cap``)
  and the role passes to whichever waiter claims it next: one prober at a time, always;
- ``quota_wait`` seconds after the pause without a successful probe -> the gate expires for
  good and every waiter gets :class:`QuotaWaitExpired`; the run leaves the remaining rows
  ``unprocessed`` and ends resumable.

The probe backoff has no jitter: there is only ever one prober, so nothing to de-synchronise.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog

from taskloader.connect.pacing import Clock, Sleep

__all__ = ["QuotaGate", "QuotaWaitExpired"]

log = structlog.get_logger(__name__)


class QuotaWaitExpired(Exception):
    """The active-task quota did not drain within ``quota_wait``; stop sending, stay resumable."""

    def __init__(self, quota_wait: float, probes: int) -> None:
        self.quota_wait = quota_wait
        self.probes = probes
        super().__init__(
            f"the active-task quota stayed exhausted for {quota_wait:g} s ({probes} probes)"
        )


class QuotaGate:
    """Open/closed gate in front of the pacer, with a single prober while closed.

    :param quota_wait: seconds to keep probing after a pause before giving up (``--quota-wait``).
    :param probe_base: delay before the first probe; doubles after each failed probe.
    :param probe_cap: the longest delay between two probes.
    """

    def __init__(
        self,
        *,
        quota_wait: float = 1800.0,
        probe_base: float = 5.0,
        probe_cap: float = 120.0,
        clock: Clock = anyio.current_time,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        if quota_wait < 0 or probe_base < 0 or probe_cap < probe_base:
            raise ValueError(
                "need quota_wait >= 0 and 0 <= probe_base <= probe_cap, got "
                f"quota_wait={quota_wait!r}, probe_base={probe_base!r}, probe_cap={probe_cap!r}"
            )
        self._quota_wait = quota_wait
        self._probe_base = probe_base
        self._probe_cap = probe_cap
        self._clock = clock
        self._sleep = sleep

        self._open = True
        self._expired = False
        self._opened_at = -math.inf
        self._paused_at = 0.0
        self._failed_probes = 0
        self._next_probe_at = 0.0
        self._prober_active = False
        self._changed: anyio.Event | None = None
        self._pauses = 0  # also tells one pause from the next
        self._probes = 0

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def expired(self) -> bool:
        return self._expired

    @property
    def pauses(self) -> int:
        """How many times the gate was closed."""
        return self._pauses

    @property
    def probes(self) -> int:
        """Probes sent since the gate was created."""
        return self._probes

    def probe_delay(self, failed_probes: int) -> float:
        """Seconds between a pause (or the n-th failed probe) and the next probe."""
        return min(self._probe_cap, self._probe_base * 2.0 ** min(failed_probes, 64))

    # -- state changes -------------------------------------------------------------------------

    def pause(self, *, sent_at: float | None = None) -> bool:
        """A send hit the active-task quota: close the gate. Returns whether this call closed it.

        ``sent_at`` (the pacer's grant time of that send) lets the gate ignore a stale answer: a
        request sent before the gate last reopened says nothing about the quota now.
        """
        if self._expired or not self._open:
            return False
        if sent_at is not None and sent_at < self._opened_at:
            return False
        now = self._clock()
        self._open = False
        self._pauses += 1
        self._paused_at = now
        self._failed_probes = 0
        self._next_probe_at = now + self.probe_delay(0)
        log.warning("quota.paused", quota_wait=self._quota_wait, pauses=self._pauses)
        self._notify()
        return True

    def resume(self) -> None:
        """The quota has room again: open the gate and wake every waiter."""
        if self._open or self._expired:
            return
        now = self._clock()
        self._open = True
        self._opened_at = now
        log.info(
            "quota.resumed",
            waited_s=round(now - self._paused_at, 3),
            failed_probes=self._failed_probes,
        )
        self._notify()

    def _expire(self) -> None:
        self._expired = True
        log.error("quota.wait_expired", quota_wait=self._quota_wait, probes=self._probes)
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_change(self) -> None:
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    # -- waiting -------------------------------------------------------------------------------

    async def wait_open(self) -> None:
        """Block while the gate is closed; raise :class:`QuotaWaitExpired` once it gave up.

        This never probes: it relies on senders going through :meth:`admit`.
        """
        while True:
            if self._expired:
                raise QuotaWaitExpired(self._quota_wait, self._probes)
            if self._open:
                return
            await self._wait_change()

    async def wait_paused(self) -> None:
        """Return once the gate is closed (paused or given up); at once if it is."""
        while self._open and not self._expired:
            await self._wait_change()

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[bool]:
        """Wait for the right to send; yields ``True`` when the caller is the one prober.

        A prober whose send got a non-quota answer must call :meth:`resume` inside the block.
        Leaving the block with the gate still closed counts as a failed probe.
        Raises :class:`QuotaWaitExpired` once the gate gave up.
        """
        probing = await self._wait_turn()
        if not probing:
            yield False
            return
        try:
            yield True
        finally:
            self._prober_active = False
            if not self._open and not self._expired:
                self._failed_probes += 1
                self._next_probe_at = self._clock() + self.probe_delay(self._failed_probes)
            self._notify()

    async def _wait_turn(self) -> bool:
        while True:
            if self._expired:
                raise QuotaWaitExpired(self._quota_wait, self._probes)
            if self._open:
                return False
            if self._prober_active:
                await self._wait_change()
                continue
            self._prober_active = True
            pause, deadline = self._pauses, self._paused_at + self._quota_wait
            try:
                await self._sleep(max(0.0, min(self._next_probe_at, deadline) - self._clock()))
            except BaseException:
                self._prober_active = False
                self._notify()
                raise
            if self._open or self._expired or self._pauses != pause:
                self._prober_active = False  # resumed, given up or paused anew while we slept
                continue
            if self._clock() >= deadline:
                self._prober_active = False
                self._expire()
                raise QuotaWaitExpired(self._quota_wait, self._probes)
            self._probes += 1
            return True
