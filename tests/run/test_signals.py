"""SIGTERM/SIGINT to a running `taskloader run`: graceful stop, hard stop, resumable ledger."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    TaskloaderProcess,
    contact_pairs,
    emulator_args,
    ledger_counts,
    ledger_records,
    read_csv,
    run_cli,
    start_requests,
    succeeded_pairs,
    task_rows,
    wait_for,
    write_csv,
)


def test_sigterm_stops_gracefully_and_unprocessed_csv_resumes(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """SIGTERM: no new sends (at most the calls in flight finish), exit 3, every row either
    succeeded or unprocessed in the ledger, unprocessed.csv lists the rest in input order, and
    feeding unprocessed.csv back with the same batch id completes the import without a
    duplicate."""
    rows, concurrency = 300, 4
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "30",
            "--burst", "5", "--concurrency", str(concurrency), "--grace-period", "5"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs")
    try:
        wait_for(lambda: len(emulator.contacts()) >= 10)
        proc.signal(signal.SIGTERM)
        sent_at_signal = sum(start_requests(emulator).values())
        code = proc.wait(timeout=30)
    finally:
        proc.kill()

    assert code == 3, proc.stderr_text()
    # Stopped taking rows: only calls already granted or in flight went out after the signal.
    sent = sum(start_requests(emulator).values())
    assert sent <= sent_at_signal + concurrency + 1
    assert sent < rows
    counts = ledger_counts(ledger)
    assert counts["failed"] == counts["invalid"] == 0
    # Rows never reached stay pending (nothing is written for them at the stop).
    assert counts["succeeded"] + counts["pending"] + counts["unprocessed"] == rows
    assert counts["succeeded"] == len(emulator.contacts())
    assert contact_pairs(emulator) == succeeded_pairs(ledger)
    assert any(e["event"] == "run.stopping" and e["reason"] == "signal" for e in proc.events())
    records = ledger_records(ledger)
    unprocessed = read_csv(ledger.parent / "unprocessed.csv")
    assert [r["key"] for r in unprocessed] == [
        r.key for r in records if r.status.value in ("pending", "unprocessed")
    ]
    batch_id = proc.events()[0]["batch_id"]

    # unprocessed.csv is a valid input for the next run.
    code, proc = run_cli(
        [str(ledger.parent / "unprocessed.csv"), *emulator_args(emulator),
         "--ledger", str(tmp_path / "rest" / "ledger.sqlite"), "--batch-id", batch_id,
         "--rate", "200", "--burst", "20"],
        tmp_path / "logs",
    )  # fmt: skip
    assert code == 0, proc.stderr_text()
    stats = emulator.stats()
    assert stats["contacts_created"] == rows
    assert stats["duplicate_tokens"] == 0
    assert {c["Name"] for c in emulator.contacts()} == {f"Task r{n}" for n in range(rows)}


def test_second_sigint_exits_at_once_and_the_ledger_resumes(
    emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """First SIGINT: the run waits for its in-flight calls (here hanging) within the grace
    period; a second SIGINT exits at once with 3. Rerunning the same command then finishes
    with every row succeeded exactly once."""
    emulator = emulator_process
    rows = 60
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "20",
            "--burst", "2", "--concurrency", "3", "--grace-period", "120"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs", {"TASKLOADER_READ_TIMEOUT": "120"})
    try:
        wait_for(lambda: len(emulator.contacts()) >= 8)
        emulator.configure(faults={"hang": 1.0})
        wait_for(lambda: emulator.stats()["faults"].get("hang", 0) >= 1)
        proc.signal(signal.SIGINT)
        time.sleep(1.0)
        # In-flight calls hang and the grace period is long: the first SIGINT waits for them.
        assert proc.alive(), proc.stderr_text()
        proc.signal(signal.SIGINT)
        code = proc.wait(timeout=15)
    finally:
        proc.kill()

    assert code == 3, proc.stderr_text()
    events = [e["event"] for e in proc.events()]
    assert "run.interrupted" in events
    counts = ledger_counts(ledger)
    assert counts["succeeded"] <= len(emulator.contacts())
    assert counts["failed"] == counts["invalid"] == 0

    emulator.configure(faults={"hang": 0.0})
    code, proc = run_cli(args, tmp_path / "logs")

    assert code == 0, proc.stderr_text()
    stats = emulator.stats()
    assert stats["duplicate_tokens"] == 0
    assert stats["contacts_created"] == rows
    assert contact_pairs(emulator) == succeeded_pairs(ledger)
    assert [r.number for r in ledger_records(ledger)] == list(range(1, rows + 1))


def test_sigint_twice_exits_at_once_after_the_run_stopped_for_another_reason(
    emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """The run is already stopping (error budget) and waits for a hanging call within a long
    grace period: Ctrl-C twice still exits at once, and a rerun finishes without duplicates."""
    emulator = emulator_process
    # Seed 0 makes the first request hang and the second answer 500 (a failed row with
    # --max-attempts 1, over --max-failures 0); nothing else gets through.
    emulator.configure(faults={"hang": 0.5, "error_500": 0.5}, seed=0)
    path = write_csv(tmp_path / "tasks.csv", task_rows(10))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "5",
            "--burst", "1", "--concurrency", "2", "--max-failures", "0", "--max-attempts", "1",
            "--grace-period", "120"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs", {"TASKLOADER_READ_TIMEOUT": "120"})
    try:
        wait_for(lambda: any(e["event"] == "run.stopping" for e in proc.events()))
        assert emulator.stats()["faults"] == {"hang": 1, "error_500": 1}
        proc.signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.alive()  # the hanging call holds the graceful stop
        proc.signal(signal.SIGINT)
        code = proc.wait(timeout=15)
    finally:
        proc.kill()

    # Interrupted (3) or aborted (4): either way at once, not after the 120 s grace period.
    assert code in (3, 4), proc.stderr_text()
    assert "Traceback" not in proc.stderr_text()

    emulator.configure(faults={"hang": 0.0, "error_500": 0.0})
    code, proc = run_cli([*args, "--redrive-failed"], tmp_path / "logs")
    assert code == 0, proc.stderr_text()
    assert emulator.stats()["duplicate_tokens"] == 0
    assert contact_pairs(emulator) == succeeded_pairs(ledger)
    assert len(emulator.contacts()) == 10


def test_sigterm_with_hanging_calls_stops_when_the_grace_period_ends(
    emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """SIGTERM while calls hang: after --grace-period the in-flight calls are cancelled and
    recorded unprocessed, result files are written, exit 3; the rerun sends those rows again
    with their tokens and finishes without a duplicate."""
    emulator = emulator_process
    rows = 40
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "20",
            "--burst", "2", "--concurrency", "3", "--grace-period", "1"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs", {"TASKLOADER_READ_TIMEOUT": "120"})
    try:
        wait_for(lambda: len(emulator.contacts()) >= 5)
        emulator.configure(faults={"hang": 1.0})
        wait_for(lambda: emulator.stats()["faults"].get("hang", 0) >= 3)
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=20)  # the grace period (1 s), not the read timeout (120 s)
    finally:
        proc.kill()

    assert code == 3, proc.stderr_text()
    events = proc.events()
    assert any(e["event"] == "run.grace_expired" for e in events)
    counts = ledger_counts(ledger)
    created = len(emulator.contacts())
    assert counts["succeeded"] == created
    assert counts["pending"] + counts["unprocessed"] == rows - created
    assert counts["failed"] == 0
    unprocessed = read_csv(ledger.parent / "unprocessed.csv")
    assert len(unprocessed) == rows - created

    emulator.configure(faults={"hang": 0.0})
    code, proc = run_cli(args, tmp_path / "logs")

    assert code == 0, proc.stderr_text()
    stats = emulator.stats()
    assert stats["duplicate_tokens"] == 0
    assert stats["contacts_created"] == rows
    assert contact_pairs(emulator) == succeeded_pairs(ledger)


def test_sigterm_during_a_quota_pause_stops_without_waiting_the_grace_period(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Paused on the active-task quota, the senders wait at the gate with nothing in flight
    but a probe: SIGTERM stops the run at once (not after --grace-period), the rows not sent
    are unprocessed, and a rerun after the tasks end sends each row exactly once."""
    emulator.configure(active_task_limit=3, task_lifetime_s=None)
    rows = 10
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "50",
            "--burst", "5", "--quota-wait", "600", "--grace-period", "120"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs")
    try:
        wait_for(lambda: any(e["event"] == "quota.paused" for e in proc.events()))
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=60)  # half the grace period: waiting it out would time out
    finally:
        proc.kill()

    assert code == 3, proc.stderr_text()
    events = [e["event"] for e in proc.events()]
    assert "run.stop_during_quota_pause" in events
    assert "run.grace_expired" not in events
    counts = ledger_counts(ledger)
    assert counts["succeeded"] == 3 == len(emulator.contacts())
    assert counts["unprocessed"] == rows - 3

    emulator.configure(active_task_limit=100)
    code, proc = run_cli([str(path), *emulator_args(emulator), "--ledger", str(ledger)],
                         tmp_path / "logs")  # fmt: skip
    assert code == 0, proc.stderr_text()
    assert ledger_counts(ledger)["succeeded"] == rows
    assert emulator.stats()["duplicate_tokens"] == 0
    assert contact_pairs(emulator) == succeeded_pairs(ledger)
    emulator.configure(active_task_limit=2500)
