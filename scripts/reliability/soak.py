"""Reliability soak of `taskloader run` against the emulator, both as separate processes.

Scenarios (issue 5, items 1-4):

    crash     SIGKILL the run at random moments, resume each time until it exits 0
    restart   SIGKILL and restart the emulator (``--state``) during one run
    quota     active-task limit 100, task lifetime 2 s: the run pauses and resumes by itself
    hang      injected hangs with a 1 s read timeout: no sender stuck, the run ends

Each prints a JSON verdict: ledger rows by status, rows lost / twice, emulator contacts vs the
ledger's succeeded ContactIds, duplicate tokens. Exit status 0 when every guarantee held.

    .venv/bin/python scripts/reliability/soak.py crash --rows 5000 --kills 10 --seed 1
    .venv/bin/python scripts/reliability/soak.py restart --rows 2000 --restarts 3 --seed 1
    .venv/bin/python scripts/reliability/soak.py quota --rows 1000
    .venv/bin/python scripts/reliability/soak.py hang --rows 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import TEMPLATES, Emulator, aws_env, ledger_rows, run_command, verify, write_rows

FAULTS = ("--fault-throttle", "0.10", "--fault-500", "0.03", "--fault-drop", "0.01")
# The default active-task limit (2,500, tasks never end) would pause a 5,000-row run for good.
NO_LIMITS = ("--rate-limit", "off", "--active-task-limit", "off")
# Retries that outlast an emulator restart (1-2 s) without making the test wait long.
RESTART_RETRIES = {
    "TASKLOADER_BACKOFF_BASE": "0.1",
    "TASKLOADER_BACKOFF_CAP": "1",
    "TASKLOADER_MAX_ATTEMPTS": "12",
}
FAST_RETRIES = {"TASKLOADER_BACKOFF_BASE": "0.01", "TASKLOADER_BACKOFF_CAP": "0.2"}
SEND = ("--rate", "200", "--burst", "20", "--concurrency", "16")


def _emulator(work: Path, seed: int, *extra: str) -> Emulator:
    return Emulator(
        "--templates", str(TEMPLATES), "--seed", str(seed), *extra, log=work / "emulator.log"
    )  # fmt: skip


def _summary(work: Path) -> dict[str, Any]:
    path = work / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def crash(
    work: Path, rows: int, kills: int, seed: int, window: tuple[float, float]
) -> dict[str, Any]:
    """Item 1: SIGKILL `taskloader run` ``kills`` times at random moments, resume until exit 0."""
    rng = random.Random(seed)
    keys = write_rows(work / "input.csv", rows, seed=seed)
    ledger = work / "ledger.sqlite"
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    with _emulator(work, seed, *FAULTS, *NO_LIMITS) as emu:
        cmd = run_command(emu, work / "input.csv", ledger, *SEND)
        env = aws_env(**FAST_RETRIES)
        with (work / "run.log").open("a") as log:
            for n in range(1, 1000):
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
                delay = rng.uniform(*window) if n <= kills else None
                try:
                    code = proc.wait(timeout=delay if delay is not None else 600)
                except subprocess.TimeoutExpired:
                    if delay is None:
                        proc.kill()
                        proc.wait()
                        raise RuntimeError("the final run did not end in 600 s") from None
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    done = Counter(r[2] for r in ledger_rows(ledger)) if ledger.exists() else {}
                    created = emu.stats()["contacts_created"]
                    events.append(
                        {
                            "run": n,
                            "killed_after_s": round(delay, 2),
                            "ledger_succeeded": done.get("succeeded", 0),
                            "emulator_contacts": created,
                            # tasks that exist but the ledger had not recorded when killed
                            "in_doubt": created - done.get("succeeded", 0),
                        }
                    )
                    continue
                events.append({"run": n, "exit_code": code})
                if code != 3:
                    break
        verdict = verify(keys, ledger, emu)
        stats = emu.stats()
    return {
        "scenario": "crash",
        "rows": rows,
        "kills": sum(1 for e in events if "killed_after_s" in e),
        "runs": len(events),
        "final_exit_code": events[-1].get("exit_code"),
        "wall_s": round(time.monotonic() - started, 1),
        "events": events,
        "emulator_requests": stats["requests"].get("StartTaskContact", {}),
        "emulator_faults": stats["faults"],
        "idempotent_replays_last_life": stats["idempotent_replays"],
        **dataclasses.asdict(verdict),
        "ok": verdict.ok and events[-1].get("exit_code") == 0,
    }


def restart(
    work: Path, rows: int, restarts: int, seed: int, window: tuple[float, float] = (2.0, 6.0)
) -> dict[str, Any]:
    """Item 2: kill -9 and restart the emulator (same port, ``--state``) during one run."""
    rng = random.Random(seed)
    keys = write_rows(work / "input.csv", rows, seed=seed)
    ledger = work / "ledger.sqlite"
    state = work / "emulator-state.sqlite"
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    # 500s and drops, no injected 429s: the restart is the fault under test, and 429s slow the
    # adaptive pacer down so much that the run would take minutes.
    faults = ("--fault-500", "0.03", "--fault-drop", "0.01")
    with _emulator(work, seed, *faults, *NO_LIMITS, "--state", str(state)) as emu:
        cmd = run_command(emu, work / "input.csv", ledger, "--rate", "100", "--concurrency", "8")
        with (work / "run.log").open("a") as log:
            proc = subprocess.Popen(cmd, env=aws_env(**RESTART_RETRIES), stdout=log, stderr=log)
            for n in range(restarts):
                time.sleep(rng.uniform(*window))
                if proc.poll() is not None:
                    break
                t0 = time.monotonic()
                emu.restart(signal.SIGKILL)
                events.append(
                    {"restart": n + 1, "down_s": round(time.monotonic() - t0, 2), "port": emu.port}
                )
            code = proc.wait(timeout=900)
        events.append({"exit_code": code})
        verdict = verify(keys, ledger, emu, expect_all_succeeded=False)
    summary = _summary(work)
    return {
        "scenario": "restart",
        "rows": rows,
        "restarts": sum(1 for e in events if "restart" in e),
        "final_exit_code": code,
        "wall_s": round(time.monotonic() - started, 1),
        "events": events,
        "run_retries": summary.get("retries"),
        **dataclasses.asdict(verdict),
        "ok": verdict.ok and code == 0 and verdict.by_status.get("succeeded") == rows,
    }


def quota(
    work: Path, rows: int, seed: int, limit: int = 100, lifetime: float = 2.0
) -> dict[str, Any]:
    """Item 3: the active-task quota (100 tasks, 2 s lifetime) pauses and resumes the run."""
    keys = write_rows(work / "input.csv", rows, seed=seed)
    ledger = work / "ledger.sqlite"
    started = time.monotonic()
    limits = (
        "--active-task-limit", str(limit), "--task-lifetime", str(lifetime), "--rate-limit", "off"
    )  # fmt: skip
    with _emulator(work, seed, *limits) as emu:
        cmd = run_command(emu, work / "input.csv", ledger, *SEND, "--quota-wait", "60")
        with (work / "run.log").open("a") as log:
            code = subprocess.run(
                cmd, env=aws_env(**FAST_RETRIES), stdout=log, stderr=log, timeout=600, check=False
            ).returncode
        verdict = verify(keys, ledger, emu)
        stats = emu.stats()
    log_text = (work / "run.log").read_text()
    return {
        "scenario": "quota",
        "rows": rows,
        "final_exit_code": code,
        "wall_s": round(time.monotonic() - started, 1),
        "emulator_requests": stats["requests"].get("StartTaskContact", {}),
        "quota_pause_events": log_text.count("quota"),
        **dataclasses.asdict(verdict),
        "ok": verdict.ok and code == 0,
    }


def hang(
    work: Path, rows: int, seed: int, probability: float, read_timeout: float
) -> dict[str, Any]:
    """Item 4: hung requests time out on the client side; every sender moves on."""
    keys = write_rows(work / "input.csv", rows, seed=seed)
    ledger = work / "ledger.sqlite"
    started = time.monotonic()
    faults = ("--fault-hang", str(probability), *NO_LIMITS)
    with _emulator(work, seed, *faults) as emu:
        cmd = run_command(emu, work / "input.csv", ledger, *SEND)
        env = aws_env(**FAST_RETRIES, TASKLOADER_READ_TIMEOUT=str(read_timeout))
        with (work / "run.log").open("a") as log:
            code = subprocess.run(
                cmd, env=env, stdout=log, stderr=log, timeout=600, check=False
            ).returncode
        wall = time.monotonic() - started
        verdict = verify(keys, ledger, emu)
        stats = emu.stats()
    return {
        "scenario": "hang",
        "rows": rows,
        "hang_probability": probability,
        "read_timeout_s": read_timeout,
        "final_exit_code": code,
        "wall_s": round(wall, 1),
        "hung": stats["faults"].get("hang", 0),
        "emulator_requests": stats["requests"].get("StartTaskContact", {}),
        **dataclasses.asdict(verdict),
        "ok": verdict.ok and code == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["crash", "restart", "quota", "hang"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-window", type=float, nargs=2, default=(0.5, 6.0))
    parser.add_argument("--hang", type=float, default=0.02)
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix=f"soak-{args.scenario}-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.scenario == "crash":
        result = crash(work, args.rows or 5000, args.kills, args.seed, tuple(args.kill_window))
    elif args.scenario == "restart":
        result = restart(work, args.rows or 2000, args.restarts, args.seed)
    elif args.scenario == "quota":
        result = quota(work, args.rows or 1000, args.seed)
    else:
        result = hang(work, args.rows or 1000, args.seed, args.hang, args.read_timeout)
    result["workdir"] = str(work)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # the emulator's stdout drain ends with it
    raise SystemExit(main())
