"""The active-task quota over HTTP: pause, probe, resume as tasks drain; give up resumably."""

from __future__ import annotations

from pathlib import Path

import structlog

from taskloader.connect.quota_gate import QuotaGate
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    Run,
    contact_pairs,
    ledger_counts,
    read_csv,
    start_requests,
    succeeded_pairs,
    task_rows,
    write_csv,
)


async def test_quota_pause_probes_and_resumes_as_tasks_drain(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """With 5 active tasks allowed and tasks ending after 0.5 s, the run pauses on the quota,
    only the prober sends while paused, and every row succeeds once tasks drain."""
    emulator.configure(active_task_limit=5, task_lifetime_s=0.5)
    path = write_csv(tmp_path / "tasks.csv", task_rows(20))
    gate = QuotaGate(quota_wait=20.0, probe_base=0.05, probe_cap=0.2)
    concurrency = 4

    with structlog.testing.capture_logs() as logs:
        report = await run(path, gate=gate, concurrency=concurrency)

    assert report.exit_code == 0
    assert report.counts["succeeded"] == 20
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
    assert emulator.stats()["duplicate_tokens"] == 0
    requests = start_requests(emulator)
    assert requests["200"] == 20
    quota_hits = requests["402"]
    assert quota_hits > 0
    assert gate.pauses >= 1
    # While paused only the prober sends: each pause costs at most the calls in flight when it
    # closed, plus one per probe.
    assert quota_hits <= gate.pauses * concurrency + gate.probes
    events = [e["event"] for e in logs]
    assert events.count("quota.paused") == gate.pauses
    assert events.count("quota.resumed") == gate.pauses
    # Every call was counted; a quota answer is never a row's failure.
    assert report.stats["requests"] == sum(requests.values())
    assert report.counts["failed"] == 0


async def test_quota_wait_expiry_leaves_rows_unprocessed_and_reruns_finish(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Tasks that never end: after quota_wait the rest is unprocessed (exit 3, listed in input
    order in unprocessed.csv); rerunning after complete-tasks goes on where it stopped until
    every row succeeded, each exactly once."""
    emulator.configure(active_task_limit=5, task_lifetime_s=None)
    path = write_csv(tmp_path / "tasks.csv", task_rows(12))

    def gate() -> QuotaGate:
        return QuotaGate(quota_wait=0.3, probe_base=0.05, probe_cap=0.1)

    first = await run(path, gate=gate())

    assert first.exit_code == 3
    assert first.stop_reason == "quota_wait"
    assert first.counts["succeeded"] == 5
    assert first.counts["unprocessed"] == 7
    left = [r["key"] for r in read_csv(Path(first.out_dir) / "unprocessed.csv")]
    done = {r["key"] for r in read_csv(Path(first.out_dir) / "succeeded.csv")}
    assert len(left) == 7
    assert left == sorted(left, key=lambda k: int(k[1:]))
    assert done.isdisjoint(left)

    codes = []
    for _ in range(3):
        assert emulator.complete_tasks() == 5 or codes
        report = await run(path, gate=gate())
        codes.append(report.exit_code)
        if report.exit_code != 3:
            break
    assert codes == [3, 0]
    assert ledger_counts(Path(report.ledger))["succeeded"] == 12
    assert len(emulator.contacts()) == 12
    assert emulator.stats()["duplicate_tokens"] == 0
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
