"""Runs against a damaged ledger, daily files, and two imports in one folder, over HTTP: the
emulator's contact count says what really happened."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from taskloader.errors import LedgerDamagedError, LedgerOtherInputError
from taskloader.ledger.store import Ledger
from taskloader.run.workspace import WorkspaceOptions, default_paths
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    Run,
    contact_pairs,
    emulator_args,
    ledger_counts,
    read_csv,
    run_cli,
    start_requests,
    succeeded_pairs,
    task_rows,
    write_csv,
)


def _lose_the_wal(ledger: Path, tmp_path: Path) -> None:
    """What a crash, then losing ``-wal``, leaves: the main file of a ledger left open."""
    with Ledger.open(ledger, batch_id=None, input_name="x", fingerprint=None, columns=[]) as led:
        shutil.copy(led.path, tmp_path / "main-copy")
        ledger.with_name(ledger.name + "-wal").unlink(missing_ok=True)
    shutil.copy(tmp_path / "main-copy", ledger)  # the main file, still marked open


def _foreign_wal(ledger: Path, tmp_path: Path) -> None:
    """Another ledger's WAL (a crashed run of another batch) put beside this one."""
    other = tmp_path / "other" / "ledger.sqlite"
    with Ledger.open(other, batch_id="other", input_name="x", fingerprint=None, columns=[]) as o:
        o.set_settings({"x": 1})
        shutil.copy(f"{other}-wal", f"{ledger}-wal")


def _drop_batch_id(ledger: Path, tmp_path: Path) -> None:
    with sqlite3.connect(ledger) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'batch_id'")
    conn.close()


def _empty(ledger: Path, tmp_path: Path) -> None:
    ledger.write_bytes(b"")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_empty, "empty file"),
        (_lose_the_wal, "ledger.sqlite-wal is missing"),
        (_foreign_wal, "belongs to another ledger"),
        (_drop_batch_id, "no batch_id"),
    ],
)
def test_a_damaged_ledger_is_exit_2_and_sends_nothing(
    emulator: EmulatorHandle, tmp_path: Path, damage: object, message: str
) -> None:
    """After a first run created 5 tasks, a damaged ledger is refused (exit 2, the file and
    what to do named, no traceback): nothing is sent, nothing is started under a new batch."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(5))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "100"]
    code, _ = run_cli(args, tmp_path / "logs")
    assert code == 0
    damage(ledger, tmp_path)  # type: ignore[operator]

    code, proc = run_cli(args, tmp_path / "logs")

    err = proc.stderr_text()
    assert code == 2, err
    assert message in err and str(ledger) in err
    assert "Traceback" not in err
    assert start_requests(emulator) == {"200": 5}
    assert emulator.stats()["contacts_created"] == 5


def test_default_ledgers_of_daily_files_are_apart(tmp_path: Path) -> None:
    options = WorkspaceOptions()
    first = default_paths(options, "in/callbacks.2026-06-01.csv")
    second = default_paths(options, "s3://b/in/callbacks.2026-06-02.csv")
    assert first[0] == Path("callbacks.2026-06-01.csv-taskloader/ledger.sqlite")
    assert second[0] == Path("callbacks.2026-06-02.csv-taskloader/ledger.sqlite")
    assert default_paths(options, "-")[0] == Path("stdin-taskloader/ledger.sqlite")


async def test_daily_files_each_create_their_tasks(
    run: Run, emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two daily files run with the default ledger location: each gets its own ledger and
    every row of both becomes a task (the second is not "the input changed")."""
    monkeypatch.chdir(tmp_path)
    day1 = write_csv(tmp_path / "callbacks.2026-06-01.csv", task_rows(4, prefix="a"))
    day2 = write_csv(tmp_path / "callbacks.2026-06-02.csv", task_rows(3, prefix="b"))

    first = await run(day1.name, ledger=None)
    second = await run(day2.name, ledger=None)

    assert first.exit_code == second.exit_code == 0
    assert first.ledger != second.ledger
    assert emulator.stats()["contacts_created"] == 7
    assert emulator.stats()["duplicate_tokens"] == 0
    both = succeeded_pairs(Path(first.ledger)) | succeeded_pairs(Path(second.ledger))
    assert contact_pairs(emulator) == both


async def test_another_input_on_the_same_ledger_is_refused(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    day1 = write_csv(tmp_path / "callbacks.2026-06-01.csv", task_rows(4, prefix="a"))
    day2 = write_csv(tmp_path / "callbacks.2026-06-02.csv", task_rows(3, prefix="b"))
    await run(day1)
    for force in (False, True):
        with pytest.raises(LedgerOtherInputError, match="another input"):
            await run(day2, force=force)
    assert emulator.stats()["contacts_created"] == 4


async def test_two_imports_in_one_out_dir_keep_their_results(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Two imports, each with its own ledger, writing results to one --out-dir: both sets of
    result files are there, each with its own rows."""
    out = tmp_path / "results"
    a = write_csv(tmp_path / "a.csv", task_rows(3, prefix="a"))
    b = write_csv(tmp_path / "b.csv", task_rows(2, prefix="b"))

    ra = await run(a, ledger=str(tmp_path / "a.ledger.sqlite"), out_dir=str(out))
    rb = await run(b, ledger=str(tmp_path / "b.ledger.sqlite"), out_dir=str(out))

    assert ra.exit_code == rb.exit_code == 0
    assert emulator.stats()["contacts_created"] == 5
    assert [r["key"] for r in read_csv(out / "a.succeeded.csv")] == ["a0", "a1", "a2"]
    assert [r["key"] for r in read_csv(out / "b.succeeded.csv")] == ["b0", "b1"]
    assert {p.name for p in out.glob("*.summary.json")} == {"a.summary.json", "b.summary.json"}
    assert ledger_counts(tmp_path / "a.ledger.sqlite")["succeeded"] == 3


async def test_a_run_on_an_empty_ledger_file_raises_the_damage(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(3))
    ledger = tmp_path / "out" / "ledger.sqlite"
    ledger.parent.mkdir()
    ledger.touch()
    with pytest.raises(LedgerDamagedError):
        await run(path)
    assert emulator.stats()["contacts_created"] == 0
    assert ledger.stat().st_size == 0
