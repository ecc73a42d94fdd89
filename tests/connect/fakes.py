"""A fake clock for pacing tests: ``sleep`` moves time forward at once instead of waiting.

Exact as long as one task sleeps at a time (the pacer's head waiter, the gate's prober);
every other task waits on locks or events, which take no time.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from taskloader.connect.pacing import Pacer


class FakeClock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


def max_window_excess(times: list[float], rate: float, burst: int) -> float:
    """The largest ``count - (rate x length + burst)`` over windows [t_i, t_j] of grant times.

    The busiest window of any length starts and ends on a grant, so checking every pair of
    grants checks every window. Non-positive means the bound held everywhere.
    """
    times = sorted(times)
    worst = -float("inf")
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) - (rate * (times[j] - start) + burst))
    return worst


async def grant_times(pacer: Pacer, senders: int, total: int) -> list[float]:
    """``senders`` tasks take ``total`` grants from ``pacer`` between them: the grant times."""
    times: list[float] = []
    left = total

    async def sender() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            times.append(await pacer.acquire())

    async with anyio.create_task_group() as tg:
        for _ in range(senders):
            tg.start_soon(sender)
    return times
