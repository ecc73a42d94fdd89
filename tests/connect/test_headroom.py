"""Safe pacing at the defaults: the pacer's sends, arriving with jitter, against the emulator's own
token bucket set to the same rate and burst; and quick recovery from an isolated throttle."""

from __future__ import annotations

import random

import pytest

from taskloader.connect.pacing import Pacer
from taskloader.emulator.quotas import TokenBucket
from taskloader.emulator.settings import Quota
from taskloader.settings import Settings

from .fakes import FakeClock, grant_times

DEFAULTS = Settings()


def _throttled(grants: list[float], quota: Quota, jitter: float, seed: int) -> int:
    """How many sends the account's bucket refuses when each arrives after a random delay of
    50 ms plus up to ``jitter`` seconds."""
    rng = random.Random(seed)
    arrivals = sorted(t + 0.05 + rng.uniform(0.0, jitter) for t in grants)
    now = [0.0]
    bucket = TokenBucket(quota, clock=lambda: now[0])
    refused = 0
    for t in arrivals:
        now[0] = t
        refused += not bucket.take()
    return refused


@pytest.mark.parametrize("seed", range(5))
async def test_default_pacing_is_not_throttled_by_the_default_quota(seed: int) -> None:
    """At the default --rate/--burst against an account quota of the same rate and burst,
    sends that arrive with up to 0.4 s of jitter are never throttled; pacing exactly at
    the quota (no headroom) is."""
    quota = Quota(DEFAULTS.rate, DEFAULTS.burst)
    jitter = 0.8 / DEFAULTS.rate

    clock = FakeClock()
    paced = Pacer(DEFAULTS.rate, DEFAULTS.burst, clock=clock, sleep=clock.sleep)
    assert _throttled(await grant_times(paced, 4, 300), quota, jitter, seed) == 0

    clock = FakeClock()
    exact = Pacer(DEFAULTS.rate, DEFAULTS.burst, headroom=0.0, clock=clock, sleep=clock.sleep)
    assert _throttled(await grant_times(exact, 4, 300), quota, jitter, seed) > 0


def test_the_bucket_runs_under_the_configured_rate_and_burst() -> None:
    pacer = Pacer(2.0, 5)
    assert pacer.max_rate == pytest.approx(1.8)
    assert pacer.burst == 4
    assert Pacer(20.0, 1).burst == 1
    assert Pacer(20.0, 5).burst == 2  # 0.15 s of bunching at 18/s is 3 requests
    assert Pacer(100.0, 20).burst == 6
    assert Pacer(1.0, 100).burst == 90


def test_an_isolated_throttle_is_recovered_within_seconds() -> None:
    """One throttle at the default settings: the rate is back at its ceiling within 6 s of
    successful sending (it used to take a halving and ~17 s)."""
    clock = FakeClock()
    pacer = Pacer(DEFAULTS.rate, DEFAULTS.burst, clock=clock, sleep=clock.sleep)
    ceiling = pacer.max_rate
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(ceiling * 0.75)
    while pacer.rate < ceiling and clock.now < 60.0:
        clock.now += 1.0 / pacer.rate
        pacer.on_success()
    assert pacer.rate == pytest.approx(ceiling)
    assert clock.now <= 6.0
