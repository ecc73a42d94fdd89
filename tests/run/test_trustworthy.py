"""The workflows of issue 11, each over HTTP against the emulator: after each, the emulator's
contacts are exactly one task per distinct row key that should exist, no ClientToken was used
twice, and every input row has one truthful status in the ledger.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from taskloader.errors import InputFileError, LedgerError, LedgerOtherInputError, UsageError
from tests.conftest import EmulatorHandle

from .conftest import (
    FLOW,
    TaskloaderProcess,
    emulator_args,
    ledger_counts,
    ledger_records,
    read_csv,
    run_cli,
    start_requests,
    task_rows,
    wait_for,
    write_csv,
    write_jsonl,
)


def created_names(emulator: EmulatorHandle) -> list[str]:
    return sorted(str(c["Name"]) for c in emulator.contacts())


def assert_exactly_once(emulator: EmulatorHandle, keys: list[str]) -> None:
    """One task per key, and no ClientToken sent twice with a second task."""
    assert created_names(emulator) == sorted(f"Task {k}" for k in keys)
    assert emulator.stats()["duplicate_tokens"] == 0


async def test_a_row_inserted_at_the_top_is_sent_and_no_row_twice(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(20))
    assert (await run(path)).exit_code == 0

    edited = [*task_rows(1, prefix="new"), *task_rows(20)]
    del edited[8]  # and one row deleted mid-file (r7)
    write_csv(path, edited)
    report = await run(path, force=True)

    assert report.exit_code == 0
    assert report.stats["requests"] == 1
    assert_exactly_once(emulator, [f"r{n}" for n in range(20)] + ["new0"])
    records = {r.key: r for r in ledger_records(tmp_path / "out" / "ledger.sqlite")}
    assert records["new0"].number == 1 and records["r0"].number == 2  # matched by key
    assert "r7" not in records  # no longer in the input: not part of this run's rows
    assert report.counts["succeeded"] == 20


async def test_daily_files_get_their_own_ledgers_and_one_ledger_refuses_the_other(
    run: Any, emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two days' files with default ledgers import both; the second day pointed at the first
    day's ledger is refused, even with --force (it would skip rows as done)."""
    monkeypatch.chdir(tmp_path)
    first = write_csv(tmp_path / "callbacks.2026-06-01.csv", task_rows(5, prefix="a"))
    second = write_csv(tmp_path / "callbacks.2026-06-02.csv", task_rows(5, prefix="b"))
    assert (await run(first, ledger=None)).exit_code == 0
    assert (await run(second, ledger=None)).exit_code == 0
    assert_exactly_once(emulator, [f"a{n}" for n in range(5)] + [f"b{n}" for n in range(5)])
    folders = sorted(p.name for p in tmp_path.glob("*-taskloader"))
    assert folders == ["callbacks.2026-06-01.csv-taskloader", "callbacks.2026-06-02.csv-taskloader"]
    shared = str(tmp_path / folders[0] / "ledger.sqlite")
    with pytest.raises(LedgerError, match="another input"):
        await run(second, ledger=shared, force=True)
    assert len(emulator.contacts()) == 10


@pytest.mark.parametrize(
    ("name", "tail"),
    [
        ("ragged.csv", 'r999,"Task r999",{flow},x,EXTRA\n'),
        ("unclosed.csv", 'r999,"Task r999,{flow},never closed\n'),
        ("nul.csv", "r999,Task r999,{flow},\x00\n"),
    ],
)
async def test_a_file_error_late_in_the_file_sends_nothing(
    run: Any, emulator: EmulatorHandle, tmp_path: Path, name: str, tail: str
) -> None:
    path = write_csv(tmp_path / name, task_rows(3000))
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write(tail.format(flow=FLOW))
    with pytest.raises(InputFileError):
        await run(path)
    assert start_requests(emulator) == {}
    assert emulator.contacts() == []


async def test_a_jsonl_array_late_in_the_file_sends_nothing(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "tasks.jsonl", task_rows(1000))
    with path.open("a", encoding="utf-8") as f:
        f.write("[1, 2, 3]\n")
    with pytest.raises(InputFileError):
        await run(path)
    assert emulator.contacts() == []


async def test_invalid_rows_are_checked_again_and_sent_once_fixed(
    run: Any, emulator: EmulatorHandle, tmp_path: Path, templates: dict[str, str]
) -> None:
    """A wrong flow in the file makes rows invalid; after the fix (no --force needed for
    rows that never reached the API) a rerun sends exactly those rows."""
    rows = task_rows(6)
    for row in rows[:3]:
        row["contact_flow_id"] = ""  # no flow and no template: invalid
    path = write_csv(tmp_path / "tasks.csv", rows)
    first = await run(path)
    assert first.exit_code == 1 and first.counts["invalid"] == 3
    for row in rows[:3]:
        row["contact_flow_id"] = FLOW
    write_csv(path, rows)
    second = await run(path, force=True)
    assert second.exit_code == 0
    assert second.counts == {**second.counts, "succeeded": 6, "invalid": 0}
    assert_exactly_once(emulator, [f"r{n}" for n in range(6)])


async def test_an_unknown_run_wide_template_is_a_usage_error_with_a_suggestion(
    run: Any, emulator: EmulatorHandle, tmp_path: Path, templates: dict[str, str]
) -> None:
    name = sorted(templates)[0]
    path = write_csv(tmp_path / "tasks.csv", task_rows(3))
    with pytest.raises(UsageError, match=f"did you mean '{name}'"):
        await run(path, template=name[:-1] + "x")
    assert not (tmp_path / "out" / "ledger.sqlite").exists()
    assert emulator.contacts() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
async def test_an_unwritable_out_dir_is_found_before_sending(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    path = write_csv(tmp_path / "tasks.csv", task_rows(3))
    try:
        with pytest.raises(UsageError, match="cannot write result files"):
            await run(path, out_dir=str(out), ledger=str(tmp_path / "l.sqlite"))
    finally:
        out.chmod(stat.S_IRWXU)
    assert emulator.contacts() == []


async def test_an_out_dir_that_is_a_file_is_found_before_sending(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """The same probe, in a form root cannot write through either."""
    blocker = tmp_path / "results"
    blocker.write_text("not a directory")
    path = write_csv(tmp_path / "tasks.csv", task_rows(3))
    with pytest.raises(UsageError, match="cannot write result files"):
        await run(path, out_dir=str(blocker / "sub"), ledger=str(tmp_path / "l.sqlite"))
    assert emulator.contacts() == []


@pytest.mark.parametrize("loss", ["deleted", "zero-byte", "new-directory"])
async def test_a_lost_ledger_creates_no_task_twice(
    run: Any, emulator: EmulatorHandle, tmp_path: Path, loss: str
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(10))
    ledger = tmp_path / "out" / "ledger.sqlite"
    assert (await run(path)).exit_code == 0
    if loss == "new-directory":
        ledger = tmp_path / "elsewhere" / "ledger.sqlite"
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}{suffix}").unlink(missing_ok=True)
        if loss == "zero-byte":
            ledger.write_bytes(b"")
            # Never taken for a new ledger: refused with what to do, nothing sent.
            with pytest.raises(LedgerError, match="move it aside"):
                await run(path, ledger=str(ledger))
            assert len(emulator.contacts()) == 10
            ledger.rename(ledger.with_name("damaged.sqlite"))  # as the message advises
    report = await run(path, ledger=str(ledger))
    assert report.counts["succeeded"] == 10
    assert_exactly_once(emulator, [f"r{n}" for n in range(10)])
    # Same batch id, same ClientTokens: Amazon Connect answered with the original contacts.
    contacts = {c["ClientToken"]: c["ContactId"] for c in emulator.contacts()}
    assert {r.token: r.contact_id for r in ledger_records(ledger)} == contacts


def test_a_file_changed_during_the_run_is_reported_and_resumable(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(60))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "20",
            "--burst", "2", "--concurrency", "2"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs")
    try:
        wait_for(lambda: len(emulator.contacts()) >= 5)
        with path.open("a", encoding="utf-8", newline="") as f:  # appended while it runs
            f.write(f"late0,Task late0,{FLOW},appended\n")
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code == 3, proc.stderr_text()
    assert "changed during the run" in proc.stderr_text()
    assert len(emulator.contacts()) == 60  # the version read before the change, all of it

    code, proc = run_cli([*args, "--force"], tmp_path / "logs")  # as the message says
    assert code == 0, proc.stderr_text()
    assert_exactly_once(emulator, [f"r{n}" for n in range(60)] + ["late0"])


def test_a_large_run_stops_quickly_and_leaves_the_rest_pending(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """SIGTERM on a 100,000-row run: exit 3 within the grace period plus a few seconds, nothing
    written for the rows never reached, the summary counts every row."""
    rows = 100_000
    path = write_csv(tmp_path / "big.csv", task_rows(rows))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), *emulator_args(emulator), "--ledger", str(ledger), "--rate", "50",
            "--burst", "5", "--grace-period", "2"]  # fmt: skip
    proc = TaskloaderProcess.start(args, tmp_path / "logs")
    try:
        wait_for(lambda: len(emulator.contacts()) >= 10, timeout=120)
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code == 3, proc.stderr_text()
    counts = ledger_counts(ledger)
    assert sum(counts.values()) == rows  # every row is in the ledger, from the pre-flight
    assert counts["succeeded"] == len(emulator.contacts())
    assert counts["pending"] + counts["unprocessed"] == rows - counts["succeeded"]
    summary = subprocess.run(
        [sys.executable, "-m", "taskloader", "ledger", "summary", str(ledger), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(summary.stdout)["counts"] == counts  # the same truth, every row counted
    # Too many rows left to list within the grace period: counted, with the command to list them.
    assert not (ledger.parent / "unprocessed.csv").exists()
    document = json.loads((ledger.parent / "summary.json").read_text())
    assert document["total"] == rows
    assert "ledger export" in document["unprocessed_rows"]


def test_stdin_and_a_pipe_are_read_once_and_imported(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "tasks.csv", task_rows(5))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = ["-", *emulator_args(emulator), "--ledger", str(ledger), "--input-format", "csv"]
    with source.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "taskloader", "run", *args, "--log-format", "json"],
            stdin=stdin,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert_exactly_once(emulator, [f"r{n}" for n in range(5)])


def test_dev_zero_is_refused_at_once(emulator: EmulatorHandle, tmp_path: Path) -> None:
    ledger = tmp_path / "out" / "ledger.sqlite"
    for extra in ([], ["--input-format", "csv"]):
        code, proc = run_cli(
            ["/dev/zero", *emulator_args(emulator), "--ledger", str(ledger), *extra],
            tmp_path / "logs",
        )
        assert code == 2, proc.stderr_text()
        assert "NUL" in proc.stderr_text()
        assert "Traceback" not in proc.stderr_text()
    assert emulator.contacts() == []


def test_a_pipe_that_never_closes_stops_on_sigterm(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    ledger = tmp_path / "out" / "ledger.sqlite"
    proc = TaskloaderProcess.start(
        [str(fifo), *emulator_args(emulator), "--ledger", str(ledger)], tmp_path / "logs"
    )
    writer = os.open(fifo, os.O_WRONLY)  # opened, written once, never closed
    try:
        os.write(writer, f"key,name,contact_flow_id\nr0,Task r0,{FLOW}\n".encode())
        wait_for(lambda: (tmp_path / "logs").exists(), timeout=5)
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    finally:
        os.close(writer)
        proc.kill()
    assert code == 3, proc.stderr_text()
    assert emulator.contacts() == []


async def test_a_declined_plan_sends_nothing_and_an_accepted_one_sends_all(
    make_settings: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    from taskloader.run.pipeline import run_import
    from taskloader.run.plan import RunPlan

    path = write_csv(tmp_path / "tasks.csv", task_rows(4000))
    shown: list[RunPlan] = []

    async def decline(plan: RunPlan) -> bool:
        shown.append(plan)
        return False

    async def accept(plan: RunPlan) -> bool:
        return True

    report = await run_import(str(path), make_settings(), tty=False, confirm=decline)
    assert report.exit_code == 3
    assert emulator.contacts() == []
    (plan,) = shown
    assert (plan.rows, plan.to_send, plan.invalid, plan.done) == (4000, 4000, 0, 0)
    assert plan.over_active_quota  # 4,000 tasks > the default 2,500 active tasks
    assert "exceed the default active-task quota" in plan.text()
    assert emulator.instance_id in plan.text()

    report = await run_import(str(path), make_settings(), tty=False, confirm=accept)
    assert report.exit_code == 0
    assert len(emulator.contacts()) == 4000


def test_off_a_terminal_the_plan_is_one_json_event(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(5))
    ledger = tmp_path / "out" / "ledger.sqlite"
    code, proc = run_cli([str(path), *emulator_args(emulator), "--ledger", str(ledger)], tmp_path)
    assert code == 0, proc.stderr_text()
    (plan,) = [e for e in proc.events() if e["event"] == "run.plan"]
    assert plan["to_send"] == 5 and plan["rows"] == 5 and plan["instance"] == emulator.instance_id


def test_run_dry_run_writes_a_report(emulator: EmulatorHandle, tmp_path: Path) -> None:
    rows = task_rows(3)
    rows[1]["contact_flow_id"] = ""
    path = write_csv(tmp_path / "tasks.csv", rows)
    report = tmp_path / "problems.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "taskloader", "run", str(path), "--dry-run", "--report",
         str(report), "--format", "json", *emulator_args(emulator)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert '"invalid": 1' in proc.stdout
    assert len(read_csv(report)) == 1
    assert emulator.contacts() == []


def test_run_dry_run_with_an_out_dir_writes_the_invalid_file_a_run_would(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """`run --dry-run --out-dir DIR` writes the invalid-rows file the run then writes there
    (same name, rows and columns); the dry run sends nothing and writes no ledger."""
    rows = task_rows(3)
    rows[1]["contact_flow_id"] = ""
    path = write_csv(tmp_path / "tasks.csv", rows)
    dry_dir, run_dir = tmp_path / "dry", tmp_path / "real"
    common = [
        str(path),
        "--yes",
        "--ledger",
        str(tmp_path / "daily.sqlite"),
        *emulator_args(emulator),
    ]
    dry = subprocess.run(
        [sys.executable, "-m", "taskloader", "run", "--dry-run", "--out-dir", str(dry_dir),
         *common],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert dry.returncode == 1, dry.stderr
    assert emulator.contacts() == []
    assert not (tmp_path / "daily.sqlite").exists()  # a dry run writes no ledger
    code, _ = run_cli([*common, "--out-dir", str(run_dir)], tmp_path)
    assert code == 1
    assert len(emulator.contacts()) == 2
    checked = read_csv(dry_dir / "daily.invalid.csv")
    sent = read_csv(run_dir / "daily.invalid.csv")
    assert [r["key"] for r in checked] == [r["key"] for r in sent] == [rows[1]["key"]]
    assert list(checked[0]) == list(sent[0])
    assert checked[0]["taskloader.error_code"] == sent[0]["taskloader.error_code"]


@pytest.mark.parametrize(
    "change", [{"region": "us-west-2"}, {"instance_id": "22222222-1111-4111-8111-111111111111"}]
)
async def test_a_ledger_reused_against_another_target_is_refused(
    run: Any, emulator: EmulatorHandle, tmp_path: Path, change: dict[str, str]
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(5))
    assert (await run(path)).exit_code == 0
    with pytest.raises(LedgerError, match="belongs to instance") as info:
        await run(path, **change)
    assert next(iter(change.values())) in str(info.value)
    assert "--force" not in str(info.value)
    assert len(emulator.contacts()) == 5


def test_a_stop_during_the_pre_flight_pass_sends_nothing_and_says_so(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "big.csv", task_rows(150_000))
    ledger = tmp_path / "out" / "ledger.sqlite"
    proc = TaskloaderProcess.start(
        [str(path), *emulator_args(emulator), "--ledger", str(ledger)], tmp_path / "logs"
    )
    try:
        wait_for(ledger.exists, timeout=60)
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code == 3, proc.stderr_text()
    assert "nothing was sent" in proc.stderr_text()
    assert not any(e["event"] == "run.plan" for e in proc.events())
    assert emulator.contacts() == []


async def test_ledger_summary_counts_keys_that_left_the_file(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tasks.csv", task_rows(6))
    assert (await run(path)).exit_code == 0
    write_csv(path, task_rows(4))  # two rows deleted
    report = await run(path, force=True)
    assert report.absent == 2 and report.counts["succeeded"] == 4
    summary = subprocess.run(
        [sys.executable, "-m", "taskloader", "ledger", "summary",
         str(tmp_path / "out" / "ledger.sqlite"), "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(summary.stdout)
    assert (info["total"], info["absent_keys"], info["input_read_whole"]) == (4, 2, True)
    assert len(emulator.contacts()) == 6  # nothing deleted, nothing sent again


async def test_an_edited_file_whose_ledger_is_lost_creates_no_task_twice(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """The default batch id follows the file's name, not its content: imported, edited (a row
    added, one deleted), resumed with --force, then the ledger lost and the edited file run
    again with a new ledger: the tasks are answered by ClientToken, none is created twice."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(8))
    assert (await run(path)).exit_code == 0
    edited = [*task_rows(1, prefix="new"), *task_rows(8)[1:]]
    write_csv(path, edited)
    assert (await run(path, force=True)).exit_code == 0
    report = await run(path, ledger=str(tmp_path / "elsewhere" / "ledger.sqlite"))
    assert report.counts["succeeded"] == 8
    assert_exactly_once(emulator, [f"r{n}" for n in range(8)] + ["new0"])

    # A row whose values changed after it was sent, run on a lost ledger: Connect refuses its
    # token (used with other values); the row fails as key_reused, saying what stands.
    edited[3]["description"] = "changed after it was sent"
    write_csv(path, edited)
    lost = await run(path, ledger=str(tmp_path / "lost-again" / "ledger.sqlite"))
    assert (lost.exit_code, lost.counts["succeeded"], lost.counts["failed"]) == (1, 7, 1)
    [failed] = [r for r in ledger_records(tmp_path / "lost-again" / "ledger.sqlite")
                if r.status.value == "failed"]  # fmt: skip
    assert (failed.key, failed.error_code) == ("r3", "key_reused")
    assert "contacts update" in (failed.error_message or "")
    assert_exactly_once(emulator, [f"r{n}" for n in range(8)] + ["new0"])


def test_result_files_fed_back_as_the_summary_says_never_make_a_task_twice(
    emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped mid-run, the summary offers unprocessed.csv and the same command: doing both
    (the file first) creates each task once, and so does correcting invalid.csv, running it, and
    then fixing the input the same way with --force. Result files carry their batch, and a file
    fed back is sent in that batch (the original import's ClientTokens)."""
    monkeypatch.chdir(tmp_path)  # the default ledger folders go beside the input's name
    rows = task_rows(60)
    rows[7]["contact_flow_id"] = rows[9]["contact_flow_id"] = ""  # two invalid rows
    path = write_csv(tmp_path / "calls.csv", rows)
    out = tmp_path / "calls.csv-taskloader"
    base = [*emulator_args(emulator), "--rate", "20", "--burst", "2"]
    proc = TaskloaderProcess.start([str(path), *base, "--yes"], tmp_path)
    try:
        wait_for(lambda: len(emulator.contacts()) >= 10, timeout=60)
        proc.signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 3, proc.stderr_text()
    finally:
        proc.kill()
    assert len(read_csv(out / "unprocessed.csv")) > 20

    code, _ = run_cli([str(out / "unprocessed.csv"), *base, "--yes"], tmp_path)
    assert code == 0
    code, _ = run_cli([str(path), *base, "--yes"], tmp_path)  # the same command again
    assert code == 1  # the two invalid rows
    assert_exactly_once(emulator, [f"r{n}" for n in range(60) if n not in (7, 9)])

    invalid = read_csv(out / "invalid.csv")
    assert [r["key"] for r in invalid] == ["r7", "r9"]
    for row in invalid:
        row["contact_flow_id"] = emulator.flow_id
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(invalid[0]))
        writer.writeheader()
        writer.writerows(invalid)
    code, _ = run_cli([str(fixed), *base, "--yes"], tmp_path)
    assert code == 0
    rows[7]["contact_flow_id"] = rows[9]["contact_flow_id"] = emulator.flow_id
    write_csv(path, rows)
    code, _ = run_cli([str(path), *base, "--yes", "--force"], tmp_path)
    assert code == 0
    assert_exactly_once(emulator, [f"r{n}" for n in range(60)])


async def test_the_same_file_name_in_two_folders_is_two_imports(
    run: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """teamA/calls.csv and teamB/calls.csv with the same keys: both imports create all their
    tasks (the default batch id follows the file's path, so B's rows are not answered with A's
    contacts), and A's ledger is not taken for B's, even with --force."""
    for team in ("teamA", "teamB"):
        (tmp_path / team).mkdir()
    a = write_csv(tmp_path / "teamA" / "calls.csv", task_rows(5))
    b_rows = task_rows(5, prefix="b")
    for n, row in enumerate(b_rows):
        row["key"] = f"r{n}"  # the same keys as team A's
    b = write_csv(tmp_path / "teamB" / "calls.csv", b_rows)
    assert (await run(a)).exit_code == 0
    # One ledger for both (as the default folder in one working directory would be): B is
    # another input, refused even with --force (as an edit of A its rows would be skipped as
    # A's, done, and never made)
    for force in (False, True):
        with pytest.raises(LedgerOtherInputError, match="another input") as refused:
            await run(b, force=force)
    assert "--batch-id " in str(refused.value)  # the way on for the same file, moved
    report = await run(b, ledger=str(b.parent / "ledger.sqlite"))
    assert report.exit_code == 0
    assert created_names(emulator) == sorted([f"Task r{n}" for n in range(5)]
                                             + [f"Task b{n}" for n in range(5)])  # fmt: skip


def test_an_endpoint_set_in_the_environment_belongs_to_the_ledger(
    emulator: EmulatorHandle, emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """The endpoint the SDK resolved from AWS_ENDPOINT_URL_CONNECT is the ledger's too: the
    same ledger pointed at another endpoint that way is refused, not reported done."""
    path = write_csv(tmp_path / "calls.csv", task_rows(4))
    ledger = tmp_path / "out" / "ledger.sqlite"
    args = [str(path), "--instance-id", emulator.instance_id, "--region", "us-east-1",
            "--ledger", str(ledger), "--yes"]  # fmt: skip
    code, proc = run_cli(args, tmp_path / "a", AWS_ENDPOINT_URL_CONNECT=emulator.url)
    assert code == 0, proc.stderr_text()
    assert len(emulator.contacts()) == 4
    code, proc = run_cli(args, tmp_path / "b", AWS_ENDPOINT_URL_CONNECT=emulator_process.url)
    assert code == 2
    assert emulator_process.url in proc.stderr_text()
    assert emulator_process.contacts() == []


def test_a_jsonl_import_stopped_and_fed_back_makes_no_task_twice(
    emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyless JSONL rows with typed values (a boolean, a number, a nested object): the rows
    left at a stop are written as JSONL, so fed back they keep their content keys; running it,
    then the original command, makes each task once."""
    monkeypatch.chdir(tmp_path)
    rows = [{"name": f"Task j{n}", "contact_flow_id": FLOW, "attributes": {"vip": n % 2 == 0,
             "rank": n}} for n in range(60)]  # fmt: skip
    path = write_jsonl(tmp_path / "calls.jsonl", rows)
    base = [*emulator_args(emulator), "--rate", "20", "--burst", "2", "--yes"]
    proc = TaskloaderProcess.start([str(path), *base], tmp_path)
    try:
        wait_for(lambda: len(emulator.contacts()) >= 10, timeout=60)
        proc.signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 3, proc.stderr_text()
    finally:
        proc.kill()
    left = tmp_path / "calls.jsonl-taskloader" / "unprocessed.jsonl"
    assert len(left.read_text().splitlines()) > 20
    assert run_cli([str(left), *base], tmp_path)[0] == 0
    assert run_cli([str(path), *base], tmp_path)[0] == 0  # the same command again
    assert created_names(emulator) == sorted(f"Task j{n}" for n in range(60))
