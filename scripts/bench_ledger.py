"""Ledger benchmark: the pre-flight staging throughput, and the resume cost on a big ledger.

    .venv/bin/python scripts/bench_ledger.py [--rows 1000000] [--done 900000] [--batch 2048]

Stages ROWS rows (a first run's pre-flight pass) and records the first DONE as succeeded, in
batched commits; closes the ledger; then times what a resumed run does before sending: open the
ledger, stage every row again by its key (the second pre-flight pass: positions, statuses kept),
and page through the rows still to send with their stored tokens. Finally times write_results
over all rows. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from taskloader.ledger.results import write_results
from taskloader.ledger.store import Ledger, LedgerReader, RowOutcome, RowStatus, Staged

COLUMNS = ("customer_id", "name", "phone", "due", "notes")


def raw(n: int) -> dict[str, str]:
    return {
        "customer_id": f"C{n:08d}",
        "name": f"Customer {n}",
        "phone": f"+4420{n:08d}",
        "due": "2025-03-01T09:00:00Z",
        "notes": "call back about the renewal quote",
    }


def staged(n: int) -> Staged:
    key = f"C{n:08d}"
    return Staged(key, n, n + 1, key, f"bench-{n:08d}", RowStatus.PENDING, raw=raw(n))


def stage_all(ledger: Ledger, rows: int, batch: int) -> None:
    ledger.begin_pass()
    for first in range(1, rows + 1, batch):
        ledger.stage([staged(n) for n in range(first, min(first + batch, rows + 1))])
    ledger.end_pass()


def build(path: Path, rows: int, done: int, batch: int) -> float:
    ledger = Ledger.open(path, batch_id="bench", input_name="bench.csv", fingerprint=None,
                         columns=COLUMNS)  # fmt: skip
    start = time.perf_counter()
    stage_all(ledger, rows, batch)
    for first in range(1, done + 1, 500):
        ledger.record(
            [
                RowOutcome(
                    number=n,
                    line=n + 1,
                    key=f"C{n:08d}",
                    token=f"bench-{n:08d}",
                    status=RowStatus.SUCCEEDED,
                    contact_id=f"contact-{n}",
                    attempts=1,
                )
                for n in range(first, min(first + 500, done + 1))
            ]
        )
    elapsed = time.perf_counter() - start
    ledger.close()
    return elapsed


def resume(path: Path, rows: int, batch: int) -> tuple[float, float, float, int]:
    start = time.perf_counter()
    ledger = Ledger.open(path, batch_id=None, input_name="bench.csv", fingerprint=None,
                         columns=COLUMNS)  # fmt: skip
    t_open = time.perf_counter() - start
    start = time.perf_counter()
    stage_all(ledger, rows, batch)
    t_stage = time.perf_counter() - start
    start = time.perf_counter()
    todo, after = 0, 0
    while page := ledger.to_send(after):
        todo += len(page)
        after = page[-1].number
    t_todo = time.perf_counter() - start
    ledger.close()
    return t_open, t_stage, t_todo, todo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--done", type=int, default=900_000)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.ledger"
        t_insert = build(path, args.rows, args.done, args.batch)
        size_mb = path.stat().st_size / 1e6
        t_open, t_stage, t_todo, n_todo = resume(path, args.rows, args.batch)
        with LedgerReader.open_readonly(path) as reader:
            start = time.perf_counter()
            write_results(reader, Path(tmp) / "out")
            t_results = time.perf_counter() - start
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = args.rows
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{platform.machine()}; {rows:,} rows, {args.done:,} done, batches of {args.batch}; "
          f"ledger {size_mb:.0f} MB")  # fmt: skip
    print()
    print("| step | time | rate |")
    print("|---|---:|---:|")
    print(f"| first run: stage, one commit per {args.batch} rows; record the done | "
          f"{t_insert:.1f} s | {rows / t_insert:,.0f} rows/s |")  # fmt: skip
    print(f"| resume: open | {t_open:.2f} s | |")
    print(f"| resume: stage every row again by key | {t_stage:.2f} s | "
          f"{rows / t_stage:,.0f} rows/s |")  # fmt: skip
    print(f"| resume: page the {n_todo:,} rows to send, with tokens | {t_todo:.2f} s | "
          f"{n_todo / max(t_todo, 1e-9):,.0f} rows/s |")  # fmt: skip
    print(f"| write_results (all files) | {t_results:.1f} s | {rows / t_results:,.0f} rows/s |")
    print()
    print(f"peak RSS of the whole benchmark process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
