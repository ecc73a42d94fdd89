"""`taskloader run` on a terminal: a pseudo-terminal (python's ``pty``) as its stdin, stdout
and stderr, against the emulator. Log lines go above the live progress bar, never into its
line; the run ends with a short summary naming the next commands."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import EmulatorHandle
from tests.run.conftest import FAST_ENV, TASKLOADER, emulator_args, task_rows, write_csv

_CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]")


def run_on_a_terminal(
    args: list[str], timeout: float = 90.0, *, answer: tuple[str, str] | None = None
) -> tuple[int, str]:
    """Run `taskloader ARGS` with a pty for its stdin, stdout and stderr; (exit code, output).
    ``answer``: (prompt, reply) types the reply once the prompt is shown."""
    controller, terminal = pty.openpty()
    env = {**os.environ, **FAST_ENV, "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(TASKLOADER), *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # the terminal's other end closed: the process is gone
                    break
                if not data:
                    break
                chunks.append(data)
                if answer is not None and answer[0].encode() in b"".join(chunks):
                    os.write(controller, answer[1].encode() + b"\r")
                    answer = None
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def screen_lines(output: str) -> list[str]:
    """What the terminal shows line by line, roughly: escape sequences dropped, a carriage
    return or line feed starting a new segment (a redraw starts with a carriage return)."""
    return [s for s in re.split(r"[\r\n]", _CSI.sub("", output)) if s.strip()]


def test_log_lines_go_above_the_bar_and_the_summary_names_the_next_commands(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(faults={"throttle": 0.3}, seed=5)
    rows = task_rows(30)
    rows[2]["name"] = ""  # one invalid row
    path = write_csv(tmp_path / "calls.csv", rows)
    ledger = tmp_path / "out" / "calls.ledger.sqlite"
    args = ["run", str(path), *emulator_args(emulator), "--ledger", str(ledger), "--yes"]
    code, output = run_on_a_terminal([*args, "--rate", "40", "--burst", "5"])

    lines = screen_lines(output)
    assert code == 1, output
    bars = [s for s in lines if re.match(r"\s*import\b.*\d+/\d+", s)]
    logged = [s for s in lines if "retry.scheduled" in s]
    assert bars and logged, output  # the bar was drawn, and retries were logged meanwhile
    # Each log line is a line of its own: it starts with its timestamp, and no bar line holds
    # a log line's text (written into the bar's line, it would follow the bar's last column).
    assert all(re.match(r"\d{4}-\d\d-\d\dT", s) for s in logged), logged
    assert not [s for s in bars if "[info" in s or "[warn" in s or "retry." in s]
    assert "run.summary" not in output  # a terminal gets the short summary below instead
    assert not any(s.lstrip().startswith("{") for s in lines)  # console, not JSON, logs
    # The summary: counts, where the results are, and what to do next.
    text = "\n".join(lines)
    assert "29 succeeded" in text and "1 invalid" in text
    assert str(ledger.parent / "calls.invalid.csv") in text
    assert "correct the rows in" in text
    assert emulator.stats()["requests"]["StartTaskContact"]["200"] == 29


def test_the_summary_names_the_command_for_each_kind_of_row_left(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Failed rows: --redrive-failed and where they are; rows left and not listed at a stop:
    resume, and the export that lists them; the ledger-named result files."""
    from taskloader.cli.run import _print
    from taskloader.ledger.results import ResultFiles
    from taskloader.run.report import RunReport

    names = {k: tmp_path / f"calls.{k}.csv" for k in ("succeeded", "failed", "invalid")}
    files = ResultFiles(**names, unprocessed=None, summary=tmp_path / "calls.summary.json",
                        counts={})  # fmt: skip
    counts = {"succeeded": 5, "failed": 2, "invalid": 0, "pending": 7, "unprocessed": 1}
    report = RunReport(3, counts, {}, str(tmp_path / "calls.ledger.sqlite"), str(tmp_path),
                       "b-1", files, "signal", "SIGTERM", sent=7)  # fmt: skip
    _print(report)
    err = capsys.readouterr().err
    assert "batch b-1: 5 succeeded, 2 failed" in err and "left to send: 8" in err
    assert "stopped (signal): SIGTERM" in err
    assert "resume: run the same command again" in err
    assert f"taskloader ledger export {tmp_path / 'calls.ledger.sqlite'} --status pending" in err
    assert f"failed rows (listed in {tmp_path / 'calls.failed.csv'}): once their cause" in err
    assert "--redrive-failed sends them again" in err
    assert "invalid" not in err.split("next:")[1]


@pytest.mark.parametrize(("answer", "created"), [("n", 0), ("y", 12)])
def test_on_a_terminal_the_plan_is_shown_and_confirmed_before_sending(
    emulator: EmulatorHandle, tmp_path: Path, answer: str, created: int
) -> None:
    path = write_csv(tmp_path / "calls.csv", task_rows(12))
    args = ["run", str(path), *emulator_args(emulator), "--ledger", str(tmp_path / "l.sqlite")]
    code, output = run_on_a_terminal(args, answer=("Create 12 tasks?", answer))
    text = _CSI.sub("", output)
    assert "target:" in text and emulator.instance_id in text, text
    assert "12 to send" in text, text
    assert len(emulator.contacts()) == created
    assert code == (3 if answer == "n" else 0), text


def test_ctrl_c_at_the_plan_prompt_ends_the_run_at_once(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """SIGINT while the plan waits for its answer: the run stops (exit 3, resumable) within a
    few seconds, sends nothing, and does not wait for a reply that never comes."""
    path = write_csv(tmp_path / "calls.csv", task_rows(12))
    controller, terminal = pty.openpty()
    env = {**os.environ, **FAST_ENV, "COLUMNS": "160", "LINES": "40"}
    proc = subprocess.Popen(
        [str(TASKLOADER), "run", str(path), *emulator_args(emulator), "--ledger",
         str(tmp_path / "l.sqlite")],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Create 12 tasks?" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen.decode()
            if select.select([controller], [], [], 0.2)[0]:
                seen += os.read(controller, 65536)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)  # before the fix it waited for the prompt's reply forever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    assert code == 3
    assert emulator.contacts() == []
