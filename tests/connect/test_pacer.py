"""The pacer's token bucket: the rate + burst bound, start-up, FIFO order, validation."""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskloader.connect.pacing import Pacer

from .fakes import FakeClock, grant_times, max_window_excess


@pytest.mark.parametrize(("rate", "burst"), [(2.0, 5), (0.5, 1), (10.0, 3), (7.3, 12)])
async def test_sends_never_exceed_rate_times_window_plus_burst(rate: float, burst: int) -> None:
    clock = FakeClock()
    pacer = Pacer(rate, burst, headroom=0.0, clock=clock, sleep=clock.sleep)
    times = await grant_times(pacer, senders=8, total=300)
    assert max_window_excess(times, rate, burst) <= 1e-6
    # The bound is tight: the bucket really does deliver the full rate once the burst is spent.
    assert times[-1] == pytest.approx((len(times) - burst) / rate, rel=1e-6)


async def test_start_up_burst_is_exactly_burst() -> None:
    clock = FakeClock()
    pacer = Pacer(2.0, 5, headroom=0.0, clock=clock, sleep=clock.sleep)
    times = await grant_times(pacer, senders=20, total=8)
    assert times[:5] == [0.0] * 5
    assert times[5:] == pytest.approx([0.5, 1.0, 1.5])


async def test_idle_bucket_refills_only_up_to_burst() -> None:
    clock = FakeClock()
    pacer = Pacer(2.0, 3, headroom=0.0, clock=clock, sleep=clock.sleep)
    await grant_times(pacer, senders=1, total=3)
    clock.now = 1000.0  # idle a long time: still only 3 at once
    times = await grant_times(pacer, senders=4, total=5)
    assert times == pytest.approx([1000.0, 1000.0, 1000.0, 1000.5, 1001.0])


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.2, 50.0),
    burst=st.integers(1, 10),
    steps=st.lists(
        st.one_of(
            st.floats(0.0, 3.0).map(lambda gap: ("idle", gap)),
            st.just(("throttle", 0.0)),
            st.just(("success", 0.0)),
            st.just(("send", 0.0)),
        ),
        min_size=1,
        max_size=120,
    ),
)
def test_bound_holds_under_any_mix_of_idling_and_rate_changes(
    rate: float, burst: int, steps: list[tuple[str, float]]
) -> None:
    """Whatever the adaptive part does, the configured rate + burst bound is never broken."""

    async def main() -> list[float]:
        clock = FakeClock()
        pacer = Pacer(rate, burst, headroom=0.0, cooldown=0.0, clock=clock, sleep=clock.sleep)
        times = []
        for action, gap in steps:
            if action == "idle":
                await clock.sleep(gap)
            elif action == "throttle":
                pacer.on_throttle()
            elif action == "success":
                pacer.on_success()
            times.append(await pacer.acquire())
            assert pacer.rate <= rate
        return times

    times = anyio.run(main)
    assert max_window_excess(times, rate, burst) <= 1e-6


async def test_real_clock_at_high_rate_keeps_the_bound() -> None:
    """Real timers, R=400/s: the grant times the pacer reports obey the bound exactly."""
    pacer = Pacer(400.0, 5, headroom=0.0)
    times = await grant_times(pacer, senders=8, total=300)
    assert len(times) >= 300
    assert max_window_excess(times, 400.0, 5) <= 1e-6


async def test_waiters_are_served_in_arrival_order_fake_clock() -> None:
    clock = FakeClock()
    pacer = Pacer(5.0, 1, clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    arrivals: list[int] = []
    grants: list[int] = []

    async def sender(i: int) -> None:
        for _ in range(rng.randint(0, 30)):
            await anyio.lowlevel.checkpoint()
        arrivals.append(i)
        await pacer.acquire()
        grants.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(sender, i)
    assert grants == arrivals


async def test_waiters_are_served_in_arrival_order_real_clock() -> None:
    """Tasks arriving at random real times while others wait are never overtaken.

    (aiolimiter 1.3.0 fails this: a newcomer can take capacity a woken waiter was about to use.)
    """
    pacer = Pacer(400.0, 1)
    rng = random.Random(1)
    arrivals: list[int] = []
    grants: list[int] = []

    async def sender(i: int, delay: float) -> None:
        await anyio.sleep(delay)
        arrivals.append(i)
        await pacer.acquire()
        grants.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(120):
            tg.start_soon(sender, i, rng.uniform(0, 0.2))
    assert grants == arrivals


async def test_a_cancelled_waiter_does_not_block_the_queue() -> None:
    pacer = Pacer(20.0, 1)
    await pacer.acquire()  # the bucket is empty now: the next token is 50 ms away
    got: list[str] = []
    scope = anyio.CancelScope()

    async def doomed() -> None:
        with scope:
            await pacer.acquire()  # the head waiter, asleep for its token
            got.append("doomed")

    async def patient() -> None:
        await pacer.acquire()
        got.append("patient")

    async with anyio.create_task_group() as tg:
        tg.start_soon(doomed)
        await anyio.sleep(0.01)
        tg.start_soon(patient)
        await anyio.sleep(0.01)
        scope.cancel()
    assert got == ["patient"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0.0, "burst": 5},
        {"rate": 2.0, "burst": 0},
        {"rate": 2.0, "burst": 5, "min_rate": 3.0},
        {"rate": 2.0, "burst": 5, "decrease_factor": 1.0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Pacer(**kwargs)  # type: ignore[arg-type]
