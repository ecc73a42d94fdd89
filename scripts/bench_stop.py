"""How long `taskloader run` takes to stop on SIGTERM, and its pre-flight pass, on a big file.

    .venv/bin/python scripts/bench_stop.py [--rows 1000000] [--grace 20]

Writes ROWS valid rows, starts the emulator and `taskloader run` as separate processes (the
emulator at its default 2/s quota raised to 50/s so a few sends happen quickly), waits until the
pre-flight pass has staged every row and the first tasks exist, sends SIGTERM and times the exit.
Prints a Markdown table for docs/reliability.md. The stop must take the grace period (in-flight
calls; here they answer in milliseconds) plus a few seconds whatever ROWS is.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "reliability"))

from harness import TEMPLATES, Emulator, aws_env, run_command

FLOW = "22222222-2222-4222-8222-000000000001"


def write(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["key", "name", "contact_flow_id", "description"])
        for n in range(rows):
            writer.writerow([f"k{n:08d}", f"Task {n}", FLOW, f"row {n} of the stop benchmark"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--grace", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "big.csv"
        write(source, args.rows)
        ledger = work / "out" / "ledger.sqlite"
        emu_args = ("--templates", str(TEMPLATES), "--rate-limit", "off")
        with Emulator(*emu_args, log=work / "emulator.log") as emu:
            cmd = run_command(emu, source, ledger, "--rate", "50", "--burst", "5",
                              "--grace-period", str(args.grace), "--log-level", "info")  # fmt: skip
            log = work / "run.log"
            started = time.monotonic()
            with log.open("w") as out:
                proc = subprocess.Popen(cmd, env=aws_env(), stdout=out, stderr=out)
                planned = None
                while proc.poll() is None:
                    if planned is None and '"run.plan"' in log.read_text():
                        planned = time.monotonic() - started
                    if planned is not None and emu.stats()["contacts_created"] >= 20:
                        break
                    time.sleep(0.2)
                signalled = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=600)
                stopped = time.monotonic() - signalled
            summary = subprocess.run(
                [sys.executable, "-m", "taskloader", "ledger", "summary", str(ledger),
                 "--format", "json"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            counts = json.loads(summary.stdout).get("counts", {}) if summary.stdout else {}
        size = ledger.stat().st_size / 1e6 if ledger.exists() else 0.0
    print(f"{args.rows:,} rows, grace period {args.grace:g} s; exit code {code}")
    print()
    print("| step | time |")
    print("|---|---:|")
    print(f"| pre-flight pass (read, check, stage every row) | {planned or 0:.1f} s |")
    print(f"| SIGTERM to exit | {stopped:.1f} s |")
    print()
    print(f"ledger {size:.0f} MB; ledger summary counts: {counts}")


if __name__ == "__main__":
    main()
