"""Resume and idempotency: SIGKILL mid-run, the file-changed refusal, batch ids, redrive."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskloader.errors import LedgerError, LedgerMismatchError
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    COLUMNS,
    FLOW,
    MISSING_FLOW,
    Run,
    TaskloaderProcess,
    contact_pairs,
    emulator_args,
    ledger_counts,
    ledger_records,
    run_cli,
    start_requests,
    succeeded_pairs,
    task_rows,
    wait_for,
    write_csv,
)


def _live_succeeded(ledger: Path) -> int:
    """Succeeded rows committed so far by a live run (0 before the ledger exists)."""
    try:
        return ledger_counts(ledger)["succeeded"]
    except (LedgerError, sqlite3.Error):
        return 0


def test_sigkill_mid_run_then_resume_creates_no_duplicate(
    emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """`taskloader run` killed with SIGKILL twice, each time with tasks created but not yet in
    the ledger, then rerun with the same command until it finishes: the emulator saw no
    ClientToken twice, replayed the unrecorded rows idempotently, and its contacts are exactly
    the ledger's succeeded rows, one record per input row. (A second run on the live ledger is
    refused with exit 2; the killed run's lock does not block the rerun.)"""
    emulator = emulator_process
    rows = 150
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger),
            "--rate", "40", "--burst", "5", "--concurrency", "4"]  # fmt: skip

    for at_least in (20, 70):
        proc = TaskloaderProcess.start(args, tmp_path / "logs")
        try:
            if at_least == 20:
                # A second run on the same ledger while this one is live is refused.
                wait_for(lambda: len(emulator.contacts()) >= 1)
                code, other = run_cli(args, tmp_path / "logs")
                assert code == 2, other.stderr_text()
                assert "another run holds it" in other.stderr_text()
            # Kill while some created tasks are not in the ledger yet (batches commit every
            # 0.5 s): those rows must be re-sent with their original tokens.
            wait_for(
                lambda n=at_least: (
                    (created := len(emulator.contacts())) >= n
                    and created > _live_succeeded(ledger) + 2
                )
            )
        finally:
            proc.kill()
        assert proc.proc.returncode == -9
        assert emulator.stats()["duplicate_tokens"] == 0

    codes = []
    for _ in range(3):
        code, proc = run_cli(args, tmp_path / "logs")
        codes.append(code)
        if code in (0, 1):
            break
    assert codes[-1] == 0, proc.stderr_text()

    stats = emulator.stats()
    assert stats["duplicate_tokens"] == 0
    assert stats["contacts_created"] == rows
    assert stats["idempotent_replays"] > 0
    assert contact_pairs(emulator) == succeeded_pairs(ledger)
    records = ledger_records(ledger)
    assert [r.number for r in records] == list(range(1, rows + 1))
    assert [r.key for r in records] == [f"r{n}" for n in range(rows)]
    assert all(r.status.value == "succeeded" for r in records)


def test_changed_input_is_refused_unless_forced(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """Rerunning with the same ledger after the input changed exits 2 and sends nothing;
    with --force it resumes: only the new row is sent."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(10))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "100"]
    code, _ = run_cli(args, tmp_path / "logs")
    assert code == 0
    write_csv(path, task_rows(11))

    code, proc = run_cli(args, tmp_path / "logs")

    assert code == 2
    assert "changed" in proc.stderr_text().lower()
    assert "Traceback" not in proc.stderr_text()
    assert start_requests(emulator) == {"200": 10}

    code, proc = run_cli([*args, "--force"], tmp_path / "logs")

    assert code == 0, proc.stderr_text()
    assert start_requests(emulator) == {"200": 11}
    assert ledger_counts(ledger)["succeeded"] == 11
    assert contact_pairs(emulator) == succeeded_pairs(ledger)


async def test_batch_ids_scope_idempotency(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A new --batch-id imports the same file again (new contacts, new tokens); the same batch
    id with a fresh ledger replays idempotently (same ContactIds, nothing created); and a
    ledger refuses a batch id other than its own."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(10))

    def ledger(name: str) -> str:
        return str(tmp_path / name / "ledger.sqlite")

    first = await run(path, batch_id="batch-a", ledger=ledger("a"))
    again = await run(path, batch_id="batch-b", ledger=ledger("b"))
    assert first.exit_code == again.exit_code == 0
    assert len(emulator.contacts()) == 20
    pairs_a, pairs_b = succeeded_pairs(Path(first.ledger)), succeeded_pairs(Path(again.ledger))
    assert {t for _, t in pairs_a}.isdisjoint({t for _, t in pairs_b})
    assert emulator.stats()["idempotent_replays"] == 0

    replay = await run(path, batch_id="batch-a", ledger=ledger("a2"))

    assert replay.exit_code == 0
    stats = emulator.stats()
    assert stats["contacts_created"] == 20
    assert stats["idempotent_replays"] == 10
    assert succeeded_pairs(Path(replay.ledger)) == pairs_a
    with pytest.raises(LedgerError, match="batch"):
        await run(path, batch_id="batch-c", ledger=ledger("a"))


async def test_redrive_after_fixing_the_file(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Failed rows stay failed on a plain rerun (nothing sent); after the file is fixed,
    --redrive-failed --force sends exactly those rows again, with their original tokens."""
    rows = task_rows(10)
    for n in (2, 5, 7):
        rows[n]["contact_flow_id"] = MISSING_FLOW
    path = write_csv(tmp_path / "tasks.csv", rows)
    first = await run(path)
    assert first.exit_code == 1
    assert first.counts["failed"] == 3
    tokens = {r.key: r.token for r in ledger_records(Path(first.ledger))}

    rerun = await run(path)
    assert rerun.exit_code == 1
    assert rerun.stats["requests"] == 0

    for n in (2, 5, 7):
        rows[n]["contact_flow_id"] = FLOW
    write_csv(path, rows)
    with pytest.raises(LedgerMismatchError):
        await run(path, redrive_failed=True)
    fixed = await run(path, redrive_failed=True, force=True)

    assert fixed.exit_code == 0
    assert fixed.stats["requests"] == 3
    assert fixed.counts["succeeded"] == 10
    records = ledger_records(Path(fixed.ledger))
    assert {r.key: r.token for r in records} == tokens
    assert contact_pairs(emulator) == succeeded_pairs(Path(fixed.ledger))
    assert [r.attempts for r in records if r.key in ("r2", "r5", "r7")] == [2, 2, 2]


async def test_redrive_after_the_service_side_is_fixed(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Rows the service refused (ScheduledTime beyond its horizon) succeed with
    --redrive-failed once the service accepts them; the file is unchanged, no --force."""
    emulator.configure(schedule_horizon_s=3600)
    when = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    rows = [{**row, "scheduled_time": when} for row in task_rows(4)]
    path = write_csv(tmp_path / "tasks.csv", rows, (*COLUMNS, "scheduled_time"))
    first = await run(path)
    assert first.counts["failed"] == 4
    assert {r.error_code for r in ledger_records(Path(first.ledger))} == {
        "InvalidParameterException"
    }

    emulator.configure(schedule_horizon_s=6 * 86_400)
    fixed = await run(path, redrive_failed=True)

    assert fixed.exit_code == 0
    assert fixed.counts["succeeded"] == 4
    assert len(emulator.contacts()) == 4
