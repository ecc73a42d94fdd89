"""The active-task quota gate: pause, exactly one prober with capped backoff, resume, give up."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from structlog.testing import capture_logs

from taskloader.connect.quota_gate import QuotaGate, QuotaWaitExpired

from .fakes import FakeClock


def _gate(clock: FakeClock, **kwargs: float) -> QuotaGate:
    settings = {"quota_wait": 100.0, "probe_base": 10.0, "probe_cap": 40.0} | kwargs
    return QuotaGate(clock=clock, sleep=clock.sleep, **settings)


async def test_an_open_gate_admits_everyone_without_probing() -> None:
    gate = _gate(FakeClock())
    async with gate.admit() as probing:
        assert probing is False
    await gate.wait_open()


async def test_while_closed_exactly_one_sender_probes_at_a_time() -> None:
    clock = FakeClock()
    gate = _gate(clock)
    assert gate.pause() is True
    assert gate.pause() is False  # already closed
    probing_now = 0
    most_at_once = 0
    probe_times: list[float] = []
    passed: list[int] = []

    async def sender(i: int) -> None:
        nonlocal probing_now, most_at_once
        async with gate.admit() as probing:
            if probing:
                probing_now += 1
                most_at_once = max(most_at_once, probing_now)
                probe_times.append(clock.now)
                for _ in range(5):  # the probe is in flight; others must keep waiting
                    await anyio.lowlevel.checkpoint()
                if len(probe_times) == 3:
                    gate.resume()  # the third probe finds room
                probing_now -= 1
        passed.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(sender, i)
    assert most_at_once == 1
    assert probe_times == [10.0, 30.0, 70.0]  # base, then doubled after each failed probe
    assert sorted(passed) == list(range(10))
    assert gate.is_open
    assert gate.probes == 3


async def test_the_gate_gives_up_after_quota_wait_and_everyone_is_told() -> None:
    clock = FakeClock()
    gate = _gate(clock)
    gate.pause()
    outcomes: list[str] = []

    async def sender() -> None:
        try:
            while True:
                async with gate.admit():
                    pass  # every probe hits the quota again: the gate stays closed
        except QuotaWaitExpired:
            outcomes.append("expired")

    async def bystander() -> None:
        try:
            await gate.wait_open()
        except QuotaWaitExpired:
            outcomes.append("expired")

    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(sender)
            tg.start_soon(bystander)
    assert outcomes == ["expired"] * 5
    assert gate.expired
    assert not gate.is_open
    # probes at 10, 30 and 70; the next (110) would be past the 100 s budget
    assert gate.probes == 3
    assert clock.now == 100.0
    assert [e["event"] for e in logs if e["event"].startswith("quota.")] == ["quota.wait_expired"]
    with pytest.raises(QuotaWaitExpired, match="100 s"):
        async with gate.admit():
            pass


async def test_probe_delay_is_exponential_and_capped() -> None:
    gate = _gate(FakeClock(), probe_base=5.0, probe_cap=60.0)
    assert [gate.probe_delay(n) for n in range(6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert gate.probe_delay(10_000) == 60.0


async def test_a_stale_quota_answer_does_not_close_a_reopened_gate() -> None:
    clock = FakeClock()
    gate = _gate(clock)
    gate.pause()
    clock.now = 50.0
    gate.resume()
    assert gate.pause(sent_at=49.0) is False  # sent before the reopening
    assert gate.is_open
    assert gate.pause(sent_at=51.0) is True
    assert gate.pauses == 2


async def test_wait_open_blocks_until_resume() -> None:
    gate = _gate(FakeClock())
    gate.pause()
    woke: list[bool] = []

    async def waiter() -> None:
        await gate.wait_open()
        woke.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert woke == []
        gate.resume()
    assert woke == [True]


async def test_a_cancelled_prober_hands_the_role_to_a_waiter() -> None:
    clock = FakeClock()
    gate = _gate(clock)
    gate.pause()
    first_probe = anyio.Event()
    probers: list[str] = []

    async def prober_then_cancelled() -> None:
        with anyio.CancelScope() as scope:
            async with gate.admit() as probing:
                probers.append("first" if probing else "none")
                first_probe.set()
                scope.cancel()
                await anyio.sleep_forever()

    async def second() -> None:
        await first_probe.wait()
        async with gate.admit() as probing:
            probers.append("second" if probing else "none")
            gate.resume()

    async with anyio.create_task_group() as tg:
        tg.start_soon(prober_then_cancelled)
        tg.start_soon(second)
    assert probers == ["first", "second"]
    assert gate.is_open


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="probe_cap"):
        QuotaGate(probe_base=10.0, probe_cap=1.0)
