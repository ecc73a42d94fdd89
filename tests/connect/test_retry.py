"""The retry loop: backoff bounds, attempt and deadline limits, outcomes, pacer and gate wiring."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable

import anyio
import botocore.exceptions as bce
import pytest
from structlog.testing import capture_logs

from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import (
    Attempt,
    ErrorKind,
    OutcomeKind,
    RetryPolicy,
    call_with_retries,
)
from taskloader.errors import FatalApiError

from .fakes import FakeClock
from .test_classify import client_error

Reply = dict[str, str] | Exception

THROTTLE = client_error("ThrottlingException", 429, "Rate exceeded")
SERVER = client_error("InternalServiceException", 500, "oops")
INVALID = client_error("InvalidParameterException", 400, "Name too long")
QUOTA = client_error("ServiceQuotaExceededException", 402, "active tasks limit")
DENIED = client_error("AccessDeniedException", 403, "no connect:StartTaskContact")
OK = {"ContactId": "c-1"}


def scripted(replies: Iterable[Reply]) -> tuple[Callable[[], Awaitable[dict[str, str]]], list[int]]:
    """An fn answering with ``replies`` in order (the last one repeats); counts its calls."""
    queue = list(replies)
    calls: list[int] = []

    async def fn() -> dict[str, str]:
        calls.append(1)
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    return fn, calls


class Parts:
    def __init__(self, **policy: float) -> None:
        self.clock = FakeClock()
        settings = {"base": 0.0, "cap": 0.0} | policy
        self.policy = RetryPolicy(
            clock=self.clock,
            sleep=self.clock.sleep,
            rng=random.Random(3),
            **settings,  # type: ignore[arg-type]
        )
        self.pacer = Pacer(1000.0, 100, clock=self.clock, sleep=self.clock.sleep)
        self.gate = QuotaGate(
            quota_wait=60.0, probe_base=1.0, probe_cap=8.0, clock=self.clock, sleep=self.clock.sleep
        )

    async def run(self, fn: Callable[[], Awaitable[dict[str, str]]], **kwargs: object):  # type: ignore[no-untyped-def]
        return await call_with_retries(
            fn,
            policy=self.policy,
            pacer=self.pacer,
            gate=self.gate,
            **kwargs,  # type: ignore[arg-type]
        )


# -- backoff -----------------------------------------------------------------------------------


def test_backoff_is_full_jitter_under_a_capped_exponential_ceiling() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, rng=random.Random(11))
    for retry, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delays = [policy.backoff(retry) for _ in range(2000)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # full jitter spreads over the whole range, not just near the ceiling
        assert min(delays) < 0.05 * ceiling
        assert max(delays) > 0.95 * ceiling


def test_a_seed_makes_the_jitter_reproducible() -> None:
    first = RetryPolicy(rng=random.Random(42))
    second = RetryPolicy(rng=random.Random(42))
    assert [first.backoff(n) for n in range(10)] == [second.backoff(n) for n in range(10)]


def test_base_zero_waits_nothing() -> None:
    policy = RetryPolicy(base=0.0, cap=0.0)
    assert {policy.backoff(n) for n in range(50)} == {0.0}


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# -- outcomes ----------------------------------------------------------------------------------


async def test_success_at_once() -> None:
    parts = Parts()
    fn, calls = scripted([OK])
    outcome = await parts.run(fn)
    assert (outcome.kind, outcome.attempts, outcome.response) == (OutcomeKind.SUCCEEDED, 1, OK)
    assert len(calls) == 1


async def test_throttles_are_retried_and_slow_the_pacer() -> None:
    parts = Parts()
    fn, _calls = scripted([THROTTLE, THROTTLE, OK])
    seen: list[Attempt] = []
    with capture_logs() as logs:
        outcome = await parts.run(fn, on_attempt=seen.append)
    assert (outcome.kind, outcome.attempts) == (OutcomeKind.SUCCEEDED, 3)
    assert parts.pacer.throttles == 2
    assert parts.pacer.rate < parts.pacer.max_rate
    assert [a.number for a in seen] == [1, 2, 3]
    assert [a.error.code if a.error else None for a in seen] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]
    scheduled = [e for e in logs if e["event"] == "retry.scheduled"]
    assert [(e["attempt"], e["code"], e["throttle"]) for e in scheduled] == [
        (1, "ThrottlingException", True),
        (2, "ThrottlingException", True),
    ]
    assert all(
        set(e) <= {"event", "log_level", "attempt", "delay", "code", "http_status", "throttle"}
        for e in scheduled
    )


async def test_a_permanent_error_fails_the_row_at_once() -> None:
    parts = Parts()
    fn, calls = scripted([INVALID])
    outcome = await parts.run(fn)
    assert len(calls) == 1
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.attempts == 1
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.message) == (
        "InvalidParameterException",
        "Name too long",
    )


async def test_retries_stop_after_max_attempts() -> None:
    parts = Parts(max_attempts=4)
    fn, calls = scripted([SERVER])
    outcome = await parts.run(fn)
    assert (outcome.kind, outcome.attempts, len(calls)) == (OutcomeKind.EXHAUSTED, 4, 4)
    assert outcome.error is not None
    assert outcome.error.code == "InternalServiceException"


class _Ceiling(random.Random):
    """Always the largest delay allowed: makes the deadline arithmetic exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_retries_stop_at_the_row_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        max_attempts=100,
        base=10.0,
        cap=10.0,
        deadline=25.0,
        rng=_Ceiling(),
        clock=clock,
        sleep=clock.sleep,
    )
    pacer = Pacer(1000.0, 100, clock=clock, sleep=clock.sleep)
    fn, _calls = scripted([SERVER])
    outcome = await call_with_retries(fn, policy=policy, pacer=pacer, gate=QuotaGate())
    # call, wait 10, call, wait 10, call: a third wait would end past 25 s
    assert (outcome.kind, outcome.attempts) == (OutcomeKind.EXHAUSTED, 3)
    assert clock.now == 20.0
    assert clock.now <= policy.deadline


async def test_a_fatal_error_raises_with_its_code() -> None:
    parts = Parts()
    fn, calls = scripted([DENIED])
    with pytest.raises(FatalApiError) as raised:
        await parts.run(fn)
    assert len(calls) == 1
    assert raised.value.code == "AccessDeniedException"
    assert "connect:StartTaskContact" in str(raised.value)
    assert isinstance(raised.value.__cause__, bce.ClientError)
    assert raised.value.exit_code == 4


async def test_an_unexpected_exception_propagates_untouched() -> None:
    parts = Parts()
    fn, _calls = scripted([ValueError("bug in the mapper")])
    with pytest.raises(ValueError, match="bug in the mapper"):
        await parts.run(fn)


# -- the quota gate ----------------------------------------------------------------------------


async def test_the_quota_pauses_then_a_probe_resumes_and_the_row_succeeds() -> None:
    parts = Parts(max_attempts=2)
    fn, _calls = scripted([QUOTA, QUOTA, QUOTA, OK])
    outcome = await parts.run(fn)
    # quota answers do not use up max_attempts; they are bounded by quota_wait instead
    assert (outcome.kind, outcome.attempts) == (OutcomeKind.SUCCEEDED, 4)
    assert parts.gate.pauses == 1
    assert parts.gate.is_open
    assert parts.clock.now == 1.0 + 2.0 + 4.0  # probes after 1, 2 and 4 s


async def test_only_one_row_probes_while_the_quota_is_full() -> None:
    parts = Parts()
    full_until = 20.0
    probes_in_flight = 0  # calls started while the gate was closed
    most_probes_at_once = 0

    async def fn() -> dict[str, str]:
        nonlocal probes_in_flight, most_probes_at_once
        full = parts.clock.now < full_until
        probe = not parts.gate.is_open
        probes_in_flight += probe
        most_probes_at_once = max(most_probes_at_once, probes_in_flight)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        probes_in_flight -= probe
        if full:
            raise QUOTA
        return OK

    outcomes = []

    async def row() -> None:
        outcomes.append(await parts.run(fn))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(row)
    assert [o.kind for o in outcomes] == [OutcomeKind.SUCCEEDED] * 10
    assert most_probes_at_once == 1
    assert parts.gate.pauses == 1
    # every row sent once before the pause; then 1 + 2 + 4 + 8 + 8 s of single probes reach 23 s
    assert parts.gate.probes == 5


async def test_rows_end_unprocessed_when_the_quota_never_drains() -> None:
    parts = Parts()
    fn, _calls = scripted([QUOTA])
    outcomes = []

    async def row() -> None:
        outcomes.append(await parts.run(fn))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(row)
    assert {o.kind for o in outcomes} == {OutcomeKind.QUOTA_EXPIRED}
    assert parts.gate.expired
    assert parts.clock.now == 60.0
    # a row that was sent carries its last answer; one that never got past the gate has none
    for o in outcomes:
        assert (o.error.kind if o.error else None) is (
            ErrorKind.QUOTA_PAUSE if o.attempts else None
        )


async def test_the_previous_contact_quota_fails_the_row_without_pausing() -> None:
    parts = Parts()
    fn, _calls = scripted(
        [client_error("ServiceQuotaExceededException", 402, "PreviousContactId c-9 has 12 tasks")]
    )
    outcome = await parts.run(fn)
    assert outcome.kind is OutcomeKind.FAILED
    assert parts.gate.is_open
    assert parts.gate.pauses == 0
