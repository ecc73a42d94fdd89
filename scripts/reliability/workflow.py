"""Workflow soak: the ordinary things users do between runs, with the emulator counting.

    .venv/bin/python scripts/reliability/workflow.py [--rows 3000] [--kills 3] [--seed 1]

One emulator and one input file, then a sequence of steps, each a real `taskloader run`
process (some killed with SIGKILL mid-run and resumed):

    import      the file, killed ``--kills`` times at random moments, resumed to the end
    edit        rows inserted at the top, rows deleted mid-file, the rest reordered; --force
    truncate    the file cut to its first half; --force (nothing to send, keys absent)
    append      new rows appended to the truncated file; --force
    lose        the ledger deleted; the original file imported again with a fresh ledger
    lose-wal    the ledger's -wal deleted after a run was killed mid-way; resumed

After every step: the emulator's contacts are exactly one per distinct row key that should
exist (their ClientTokens are those of the batch id and the keys), no token was used twice, and
every row of the current file has exactly one status in the ledger. Prints a JSON verdict per
step; exit status 0 when every step held.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import COLUMNS, TEMPLATES, Emulator, aws_env, callback_row, run_command

FAST = {"TASKLOADER_BACKOFF_BASE": "0.01", "TASKLOADER_BACKOFF_CAP": "0.2"}
SEND = ("--rate", "200", "--burst", "20", "--concurrency", "16")


def token(batch_id: str, key: str) -> str:
    return hashlib.sha256(f"taskloader\x00{batch_id}\x00{key}".encode()).hexdigest()


class Workflow:
    def __init__(self, work: Path, emu: Emulator, seed: int) -> None:
        self.work = work
        self.emu = emu
        self.rng = random.Random(seed)
        self.input = work / "callbacks.csv"
        self.ledger = work / "out" / "ledger.sqlite"
        self.rows: dict[str, dict[str, str]] = {}  # every row ever written, by key
        self.sent: set[str] = set()  # keys that should have a task
        self.steps: list[dict[str, Any]] = []

    # -- the file ------------------------------------------------------------------------------
    def new_rows(self, prefix: str, count: int) -> list[str]:
        keys = [f"{prefix}-{n:06d}" for n in range(count)]
        for key in keys:
            self.rows[key] = callback_row(self.rng, key)
        return keys

    def write(self, keys: list[str]) -> None:
        with self.input.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, COLUMNS)
            writer.writeheader()
            for key in keys:
                writer.writerow(self.rows[key])
        self.current = list(keys)

    # -- running -------------------------------------------------------------------------------
    def run(self, *flags: str, kill_after: float | None = None) -> int | None:
        cmd = [*run_command(self.emu, self.input, self.ledger, *SEND, *flags), "--yes"]
        with (self.work / "run.log").open("a") as log:
            proc = subprocess.Popen(cmd, env=aws_env(**FAST), stdout=log, stderr=log)
            try:
                return proc.wait(timeout=kill_after if kill_after is not None else 600)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return None

    def run_to_end(self, *flags: str, kills: int = 0, window: tuple[float, float] = (0.3, 2.0)):
        codes: list[int | None] = []
        for n in range(kills + 20):
            delay = self.rng.uniform(*window) if n < kills else None
            code = self.run(*flags, kill_after=delay)
            codes.append(code)
            if code is not None and code != 3:
                break
        return codes

    # -- checking ------------------------------------------------------------------------------
    def check(self, step: str, codes: list[int | None], expect_invalid: int = 0) -> None:
        conn = sqlite3.connect(f"{self.ledger.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            current = conn.execute(
                "SELECT key, status FROM records WHERE pass = ?", (int(meta["pass"]),)
            ).fetchall()
        finally:
            conn.close()
        batch = meta["batch_id"]
        contacts = self.emu.contacts()
        tokens = sorted(c["ClientToken"] for c in contacts)
        expected = sorted(token(batch, k) for k in self.sent)
        statuses = dict(current)
        problems = []
        if tokens != expected:
            problems.append(f"{len(tokens)} contacts, {len(expected)} expected")
        if self.emu.stats()["duplicate_tokens"]:
            problems.append("a ClientToken was used twice")
        if sorted(statuses) != sorted(self.current) or len(current) != len(self.current):
            problems.append("the ledger's rows are not the file's rows, once each")
        invalid = sum(1 for s in statuses.values() if s == "invalid")
        left = [k for k, s in statuses.items() if s not in ("succeeded", "invalid")]
        if left or invalid != expect_invalid:
            problems.append(f"{len(left)} rows not done, {invalid} invalid")
        self.steps.append(
            {
                "step": step,
                "exit_codes": codes,
                "file_rows": len(self.current),
                "emulator_contacts": len(contacts),
                "expected_contacts": len(expected),
                "invalid": invalid,
                "problems": problems,
            }
        )


def soak(work: Path, rows: int, kills: int, seed: int) -> dict[str, Any]:
    started = time.monotonic()
    emu_args = ("--templates", str(TEMPLATES), "--seed", str(seed),
                "--rate-limit", "off", "--active-task-limit", "off")  # fmt: skip
    with Emulator(*emu_args, log=work / "emulator.log") as emu:
        w = Workflow(work, emu, seed)
        original = w.new_rows("row", rows)
        w.write(original)
        w.sent |= set(original)
        w.check("import", w.run_to_end(kills=kills))

        top = w.new_rows("top", 10)
        kept = [k for i, k in enumerate(original) if i % 50 != 7]  # every 50th row deleted
        w.rng.shuffle(kept)
        w.write(top + kept)
        w.sent |= set(top)
        w.check("edit", w.run_to_end("--force", kills=1))

        w.write(w.current[: len(w.current) // 2])
        w.check("truncate", w.run_to_end("--force"))

        tail = w.new_rows("tail", 25)
        w.write(w.current + tail)
        w.sent |= set(tail)
        w.check("append", w.run_to_end("--force"))

        w.write(original)  # the original file again: its default batch id is the first one
        for suffix in ("", "-wal", "-shm"):
            Path(f"{w.ledger}{suffix}").unlink(missing_ok=True)
        w.check("lose", w.run_to_end())

        codes: list[int | None] = [w.run("--force", kill_after=1.0)]
        Path(f"{w.ledger}-wal").unlink(missing_ok=True)
        codes += w.run_to_end("--force")
        w.check("lose-wal", codes)

    return {
        "scenario": "workflow",
        "rows": rows,
        "wall_s": round(time.monotonic() - started, 1),
        "steps": w.steps,
        "ok": all(not s["problems"] for s in w.steps),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="soak-workflow-"))
    work.mkdir(parents=True, exist_ok=True)
    result = soak(work, args.rows, args.kills, args.seed)
    result["workdir"] = str(work)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # the emulator's stdout drain ends with it
    raise SystemExit(main())
