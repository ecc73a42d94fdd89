"""Pacing as the emulator counts it: rate + burst over every window, and the adaptive slow-down."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import structlog

from tests.conftest import EmulatorHandle
from tests.run.conftest import Run, start_requests, task_rows, write_csv

#: Arrival-time jitter allowed for: the emulator stamps arrival, the pacer grants send times; on
#: a loaded 2-core machine the emulator's thread can stall this long and then stamp a queue of
#: requests at once. (Without pacing, 200 rows at concurrency 8 arrive ~190 above the rate.)
JITTER_S = 0.2


def worst_excess(times: list[float], rate: float) -> float:
    """max over windows [t_i, t_j] of (requests in it) - rate x (t_j - t_i): the burst used."""
    times = sorted(times)
    worst = 0.0
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) - rate * (times[j] - start))
    return worst


async def test_sends_stay_within_rate_and_burst_as_counted_by_the_emulator(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Over every window of the run (start-up included), the requests the emulator received
    number at most R x (window + J) + B, J = 200 ms of arrival jitter (connection set-up bunches
    the first burst); and no faster than the rate allows. (How close a run comes to the rate is
    a figure of scripts/bench/bench.py (docs/benchmarks.md), not a wall-clock assertion here.)"""
    rate, burst, rows = 50.0, 10, 200
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))

    report = await run(path, rate=rate, burst=burst, concurrency=8)

    assert report.exit_code == 0
    # No quota and no faults: one request per row, each creating a contact stamped on arrival.
    assert start_requests(emulator) == {"200": rows}
    created = sorted(c["CreatedTime"] for c in emulator.contacts())
    excess = worst_excess(created, rate)
    assert excess <= burst + rate * JITTER_S, f"{excess:.1f} requests above the rate in a window"
    # The first B went at once (the bucket starts full), then one per 1/R.
    assert created[-1] - created[0] >= (rows - burst) / rate * 0.95


async def test_an_emulator_quota_at_the_same_rate_and_burst_throttles_almost_nothing(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """With the emulator's StartTaskContact quota set to the run's R/B, under 2 % of the
    requests are throttled (each is retried, so every row still succeeds)."""
    rate, burst, rows = 100.0, 10, 200
    emulator.configure(quotas={"StartTaskContact": {"rate": rate, "burst": burst}})
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))

    report = await run(path, rate=rate, burst=burst, concurrency=8)

    assert report.exit_code == 0
    assert report.counts["succeeded"] == rows
    throttled = emulator.stats()["throttled"]
    assert throttled <= rows * 0.02
    assert start_requests(emulator) == {"200": rows, **({"429": throttled} if throttled else {})}
    assert report.stats["throttles"] == throttled


async def test_throttling_slows_the_run_down_and_it_recovers(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Injected ThrottlingExceptions cut the pacing rate (logged as pacing.rate_changed); once
    they stop, the rate climbs back, never above --rate. Every row succeeds exactly once and
    the throttles are counted in summary.json."""
    rate, rows = 100.0, 250
    emulator.configure(faults={"throttle": 0.3}, seed=21)
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))

    async def lift_faults() -> None:
        while len(await anyio.to_thread.run_sync(emulator.contacts)) < 20:
            await anyio.sleep(0.02)
        await anyio.to_thread.run_sync(lambda: emulator.configure(faults={"throttle": 0.0}))

    with structlog.testing.capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lift_faults)
            report = await run(path, rate=rate, burst=10)

    assert report.exit_code == 0
    assert report.counts["succeeded"] == rows
    stats = emulator.stats()
    assert stats["duplicate_tokens"] == 0
    assert stats["contacts_created"] == rows
    injected = stats["faults"]["throttle"]
    assert injected > 0
    assert report.stats["throttles"] == injected
    summary = json.loads((Path(report.out_dir) / "summary.json").read_text())
    assert summary["stats"]["throttles"] == injected
    assert summary["stats"]["retries"] == injected
    changes = [e for e in logs if e["event"] == "pacing.rate_changed"]
    cuts = [e for e in changes if e["reason"] == "throttled"]
    climbs = [e for e in changes if e["reason"] == "recovering"]
    assert cuts and all(e["new_rate"] < e["old_rate"] for e in cuts)
    assert climbs and all(e["new_rate"] > e["old_rate"] for e in climbs)
    assert all(e["new_rate"] <= rate for e in changes)
    # Fewer cuts than throttles: answers to requests sent before a cut do not cut again.
    assert len(cuts) < injected


async def test_concurrency_caps_requests_in_flight(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """With every call taking 100 ms and --concurrency 3, the emulator creates at most
    3 x (window / 100 ms + 1) contacts in any window, whatever the (high) rate allows."""
    concurrency, latency, rows = 3, 0.1, 30
    emulator.configure(faults={"latency_ms": latency * 1000})
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))

    report = await run(path, rate=200.0, burst=20, concurrency=concurrency)

    assert report.exit_code == 0
    created = sorted(c["CreatedTime"] for c in emulator.contacts())
    assert len(created) == rows
    assert worst_excess(created, concurrency / latency) <= concurrency + 1
    assert created[-1] - created[0] >= (rows / concurrency - 1) * latency * 0.9


async def test_a_lone_run_at_the_quota_is_never_throttled(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """--rate R --burst B equal to the emulator's StartTaskContact quota (20/s burst 5: the
    default 2/s burst 5, ten times faster), default concurrency: the emulator throttles
    nothing, and the run still paces close to the quota (headroom 10 %)."""
    rate, burst, rows = 20.0, 5, 100
    emulator.configure(quotas={"StartTaskContact": {"rate": rate, "burst": burst}})
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))

    report = await run(path, rate=rate, burst=burst, concurrency=4)

    assert report.exit_code == 0
    assert emulator.stats()["throttled"] == 0
    assert start_requests(emulator) == {"200": rows}
    assert report.stats["throttles"] == 0
    created = sorted(c["CreatedTime"] for c in emulator.contacts())
    assert created[-1] - created[0] >= (rows - burst) / rate  # never above the quota
