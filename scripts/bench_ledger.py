"""Ledger benchmark: batched insert throughput, and the resume cost on a big ledger.

    .venv/bin/python scripts/bench_ledger.py [--rows 1000000] [--done 900000] [--batch 500]

Builds a ledger of ROWS records (the first DONE succeeded, the rest pending) with batched
commits, closes it, then times what a resumed run does before sending: open the ledger, build
the resume plan (bitmaps), test every record number against it while "reading the file again",
and fetch the stored tokens of the rows still to do. Finally times write_results over all rows.
Prints a Markdown table for docs/benchmarks.md.
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
from taskloader.ledger.store import Ledger, LedgerReader, RowOutcome, RowStatus

COLUMNS = ("customer_id", "name", "phone", "due", "notes")


def raw(n: int) -> dict[str, str]:
    return {
        "customer_id": f"C{n:08d}",
        "name": f"Customer {n}",
        "phone": f"+4420{n:08d}",
        "due": "2025-03-01T09:00:00Z",
        "notes": "call back about the renewal quote",
    }


def build(path: Path, rows: int, done: int, batch: int) -> float:
    ledger = Ledger.open(path, batch_id="bench", input_name="bench.csv", fingerprint=None,
                         columns=COLUMNS)  # fmt: skip
    start = time.perf_counter()
    for first in range(1, rows + 1, batch):
        ledger.record(
            [
                RowOutcome(
                    number=n,
                    line=n + 1,
                    key=f"C{n:08d}",
                    token=f"bench-{n:08d}",
                    status=RowStatus.SUCCEEDED if n <= done else RowStatus.PENDING,
                    contact_id=f"contact-{n}" if n <= done else None,
                    attempts=1 if n <= done else 0,
                    raw=raw(n),
                )
                for n in range(first, min(first + batch, rows + 1))
            ]
        )
    elapsed = time.perf_counter() - start
    ledger.close()
    return elapsed


def resume(path: Path, rows: int) -> tuple[float, float, float, int]:
    start = time.perf_counter()
    ledger = Ledger.open(path, batch_id=None, input_name="bench.csv", fingerprint=None,
                         columns=COLUMNS)  # fmt: skip
    plan = ledger.resume_plan()
    t_plan = time.perf_counter() - start
    start = time.perf_counter()
    todo = [n for n in range(1, rows + 1) if n not in plan.done]
    t_skip = time.perf_counter() - start
    start = time.perf_counter()
    tokens: dict[int, str] = {}
    for i in range(0, len(todo), 500):
        tokens.update(ledger.tokens_for(todo[i : i + 500]))
    t_tokens = time.perf_counter() - start
    ledger.close()
    return t_plan, t_skip, t_tokens, len(todo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--done", type=int, default=900_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.ledger"
        t_insert = build(path, args.rows, args.done, args.batch)
        size_mb = path.stat().st_size / 1e6
        t_plan, t_skip, t_tokens, n_todo = resume(path, args.rows)
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
    print(f"| insert, one commit per {args.batch} rows | {t_insert:.1f} s | "
          f"{rows / t_insert:,.0f} rows/s |")  # fmt: skip
    print(f"| open + resume plan (bitmaps) | {t_plan:.2f} s | {rows / t_plan:,.0f} rows/s |")
    print(f"| skip check of every record number | {t_skip:.2f} s | "
          f"{rows / t_skip:,.0f} rows/s |")  # fmt: skip
    print(f"| stored tokens of the {n_todo:,} rows to do | {t_tokens:.2f} s | "
          f"{n_todo / t_tokens:,.0f} rows/s |")  # fmt: skip
    print(f"| write_results (all files) | {t_results:.1f} s | {rows / t_results:,.0f} rows/s |")
    print()
    print(f"peak RSS of the whole benchmark process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
