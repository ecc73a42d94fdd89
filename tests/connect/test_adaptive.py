"""The pacer's AIMD: multiplicative cut on a throttle, gradual climb on success, never above R."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from taskloader.connect.pacing import Pacer

from .fakes import FakeClock


def _pacer(clock: FakeClock, **kwargs: float) -> Pacer:
    settings: dict[str, float] = {
        "cooldown": 2.0, "increase_per_s": 0.1, "headroom": 0.0, "decrease_factor": 0.5,
    } | kwargs  # fmt: skip
    return Pacer(2.0, 5, clock=clock, sleep=clock.sleep, **settings)  # type: ignore[arg-type]


def test_a_throttle_halves_the_rate_and_logs_the_change() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    with capture_logs() as logs:
        assert pacer.on_throttle() is True
    assert pacer.rate == 1.0
    assert pacer.throttles == 1
    assert pacer.rate_cuts == 1
    assert logs == [
        {
            "event": "pacing.rate_changed",
            "log_level": "info",
            "old_rate": 2.0,
            "new_rate": 1.0,
            "reason": "throttled",
            "throttles": 1,
        }
    ]


def test_a_storm_of_in_flight_throttles_cuts_only_once() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    for _ in range(10):
        pacer.on_throttle()
        clock.now += 0.1  # ten answers within the cool-down
    assert pacer.rate == 1.0
    assert pacer.throttles == 10
    assert pacer.rate_cuts == 1


def test_after_the_cool_down_a_throttle_of_an_older_request_is_still_ignored() -> None:
    clock = FakeClock(100.0)
    pacer = _pacer(clock)
    sent_before_cut = 99.0
    pacer.on_throttle(sent_at=99.5)
    clock.now = 130.0  # a slow answer arriving long after the cool-down
    assert pacer.on_throttle(sent_at=sent_before_cut) is False
    assert pacer.rate == 1.0
    assert pacer.on_throttle(sent_at=129.0) is True  # sent after the cut: new information
    assert pacer.rate == 0.5


def test_the_rate_never_drops_below_the_floor() -> None:
    clock = FakeClock()
    pacer = _pacer(clock, min_rate=0.3)
    for _ in range(20):
        pacer.on_throttle()
        clock.now += 5.0
    assert pacer.rate == 0.3
    assert pacer.rate_cuts == 3  # 2 -> 1 -> 0.5 -> 0.3, then nothing left to cut


def test_default_floor_is_a_small_fraction_of_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(200.0, 5, headroom=0.0, cooldown=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        pacer.on_throttle()
    assert pacer.rate == 10.0


def test_success_climbs_back_gradually_and_never_above_the_configured_rate() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)  # +0.1 req/s per second of success
    pacer.on_throttle()
    seen = []
    while clock.now < 60.0:
        clock.now += 0.5
        pacer.on_success()
        seen.append((clock.now, pacer.rate))
    rates = [rate for _, rate in seen]
    assert rates == sorted(rates)  # only up
    assert max(rates) == 2.0
    assert all(rate == 1.0 for t, rate in seen if t < 2.0)  # no climb during the cool-down
    # 1 -> 2 at 0.1 per second takes 10 s of success after the cool-down
    t_full = next(t for t, rate in seen if rate == 2.0)
    assert 11.0 <= t_full <= 13.5
    rate_at_7 = dict(seen)[7.0]
    assert 1.2 <= rate_at_7 <= 1.6


def test_a_long_silence_is_not_counted_as_success() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    pacer.on_throttle()
    clock.now = 10.0
    pacer.on_success()
    clock.now = 1000.0  # e.g. a quota pause: no sends for 990 s
    pacer.on_success()
    assert pacer.rate <= 1.0 + 2 * 0.1


def test_climbing_is_logged_in_whole_steps_not_per_success() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    pacer.on_throttle()
    clock.now = 3.0
    with capture_logs() as logs:
        for _ in range(50):  # 5 s of success at 10 answers per second
            clock.now += 0.1
            pacer.on_success()
    assert 4 <= len(logs) <= 5
    assert {entry["reason"] for entry in logs} == {"recovering"}
    assert all(entry["new_rate"] > entry["old_rate"] for entry in logs)


async def test_a_cut_slows_the_bucket_itself() -> None:
    clock = FakeClock()
    pacer = _pacer(clock)
    for _ in range(5):
        await pacer.acquire()  # spend the burst
    pacer.on_throttle()  # 2 -> 1 req/s
    times = [await pacer.acquire() for _ in range(10)]
    assert times == pytest.approx([float(n) for n in range(1, 11)])
