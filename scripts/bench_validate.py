"""Dry-run validation speed and memory: read + map + validate vs a bare csv.DictReader loop.

    .venv/bin/python scripts/bench_validate.py                 # 1M rows x3: rate, ratio; RSS 1M, 5M
    .venv/bin/python scripts/bench_validate.py --rows 200000 --rss-sizes 200000
    .venv/bin/python scripts/bench_validate.py --rss-sizes "" --cli   # + `taskloader validate`

Each RSS figure comes from a fresh subprocess: its VmHWM (see ``peak_rss_kib``).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from taskloader.checks.request import CrossRowChecks, Limits, check_row
from taskloader.input.readers import SourceOptions, open_rows
from taskloader.logs import configure_logging
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.mapper import Mapper
from taskloader.run.dryrun import ValidationSummary, validate_file
from taskloader.run.options import template_cache
from taskloader.settings import Settings
from taskloader.templates.model import FieldType, TaskTemplate, TemplateField

COLUMNS = [
    "name",
    "description",
    "scheduled_time",
    "expiry_minutes",
    "attr.customer_id",
    "attr.region",
    "Priority",
    "Amount",
    "Due",
    "Email",
    "Link",
    "Notes",
    "Summary",
    "Urgent",
]


def template() -> TaskTemplate:
    f = TemplateField
    return TaskTemplate(
        id="tpl-bench",
        arn="arn:aws:connect:eu-west-2:123456789012:instance/i/task-template/tpl-bench",
        name="Bench",
        contact_flow_id="flow-1",
        fields=(
            f("Task name", FieldType.NAME),
            f("Task description", FieldType.DESCRIPTION),
            f("Priority", FieldType.SINGLE_SELECT, options=("Low", "Medium", "High")),
            f("Amount", FieldType.NUMBER),
            f("Due", FieldType.DATE_TIME),
            f("Email", FieldType.EMAIL),
            f("Link", FieldType.URL),
            f("Notes", FieldType.TEXT_AREA),
            f("Summary", FieldType.TEXT),
            f("Urgent", FieldType.BOOLEAN),
        ),
        required=frozenset({"Priority", "Email"}),
        defaults={"Urgent": "false"},
    )


def generate(path: Path, rows: int, mixed: bool = False, bad_every: int = 0) -> None:
    """The benchmark file. ``mixed``: every row's times distinct (no memo hits) and every 50th
    row a copy of the row before it (a duplicate key); ``bad_every``: that often a bad email."""
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    when = start.isoformat()
    due = "2030-01-02T09:30:00Z"
    prio = ("Low", "Medium", "High")
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for n in range(rows):
            i = n - 1 if mixed and n % 50 == 49 else n
            if mixed:
                when = (start + timedelta(seconds=i * 7 % 400_000)).isoformat()
                due = f"2030-01-02T09:{i % 60:02d}:{i // 60 % 60:02d}+0{i % 10}:00"
            out.writerow(
                [
                    f"Call back customer {i}",
                    "Customer asked for a call back about their order, see notes",
                    when,
                    "1440",
                    f"C{i:08d}",
                    "eu-west",
                    prio[i % 3],
                    f"{i % 1000}.{i % 100:02d}",
                    due,
                    f"customer {i}"
                    if bad_every and i % bad_every == 0
                    else f"customer{i}@example.com",
                    f"https://crm.example.com/orders/{i}",
                    "Left a voicemail; the customer prefers mornings, between 9 and 11",
                    f"Order {i} follow-up",
                    "true" if i % 2 else "false",
                ]
            )


def bare_dictreader(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    with path.open(newline="", encoding="utf-8") as fh:
        for _ in csv.DictReader(fh):
            n += 1
    return n, time.perf_counter() - start


def dry_run(path: Path) -> tuple[int, int, float]:
    """`taskloader validate`'s own code path (:func:`validate_file`), offline templates."""
    templates = path.parent / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "bench.json").write_text(json.dumps(template().to_api()))
    settings = Settings(templates_dir=templates, template=template().name)

    async def main() -> ValidationSummary:
        async with template_cache(settings) as cache:
            return await validate_file(str(path), settings, cache)

    start = time.perf_counter()
    summary = anyio.run(main)
    return summary.rows, summary.invalid, time.perf_counter() - start


def check_row_loop(path: Path) -> tuple[int, int, float]:
    """The row-at-a-time path `taskloader run` uses: Row dicts, mapped requests, then rules."""
    tpl = template()
    mapper = Mapper(MappingConfig())
    limits = Limits()
    cross = CrossRowChecks()
    start = time.perf_counter()
    n = invalid = 0
    with open_rows(str(path), SourceOptions()) as rows:
        for row in rows:
            n += 1
            if check_row(row, tpl, mapper, limits, cross).problems:
                invalid += 1
    return n, invalid, time.perf_counter() - start


def cli_seconds(path: Path, templates: Path) -> float:
    """Wall time of the real `taskloader validate` (reader thread, async Preparer) on ``path``."""
    exe = Path(sys.executable).with_name("taskloader")
    cmd = [str(exe), "validate", str(path), "--templates", str(templates), "--format", "json",
           "--template", template().name]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True)
    if proc.returncode not in (0, 1):  # 1: the file has invalid rows, which is fine here
        raise SystemExit(f"taskloader validate failed: {proc.stderr.decode()[-2000:]}")
    return time.perf_counter() - start


def cli(tmp: Path, path: Path, rows: int) -> None:
    templates = tmp / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "bench.json").write_text(json.dumps(template().to_api()))
    tiny = tmp / "tiny.csv"
    generate(tiny, 1)
    startup = cli_seconds(tiny, templates)
    seconds = cli_seconds(path, templates)
    print(
        f"taskloader validate : {rows / seconds:>10,.0f} rows/s end to end "
        f"({rows / (seconds - startup):,.0f} rows/s without the {startup:.2f} s start-up)"
    )


def peak_rss_kib() -> int:
    """This process's own peak RSS: ``VmHWM`` of its address space.

    Not ``ru_maxrss``: Linux carries that over ``execve`` from the address space being replaced,
    so a child started by a large parent (``subprocess`` forks or vforks it) reports at least the
    parent's RSS.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux


def child(path: str) -> None:
    """Run one dry-run in this (fresh) process and print its figures as JSON."""
    n, invalid, seconds = dry_run(Path(path))
    peak_kib = peak_rss_kib()
    figures = {"rows": n, "invalid": invalid, "seconds": seconds, "peak_mib": peak_kib / 1024}
    print(json.dumps(figures))


def main() -> None:
    configure_logging("console", "warning", stream=sys.stderr)
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rss-sizes", default="1000000,5000000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="cProfile the dry-run")
    parser.add_argument("--mixed", action="store_true", help="distinct times, 2%% duplicates")
    parser.add_argument("--bad-every", type=int, default=0, help="a bad email every N rows")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--cli", action="store_true", help="also time `taskloader validate`")
    parser.add_argument("--row-path", action="store_true", help="also time run's check_row path")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        generate(path, args.rows, args.mixed, args.bad_every)
        if args.profile:
            import cProfile
            import pstats

            cProfile.runctx("dry_run(path)", globals(), {"path": path}, str(Path(tmp) / "prof"))
            pstats.Stats(str(Path(tmp) / "prof")).sort_stats("tottime").print_stats(15)
            return
        bases, rates, ratios = [], [], []
        for _ in range(args.repeat):  # interleaved, so a slow spell of the machine hits both
            base_n, base_s = bare_dictreader(path)
            n, invalid, seconds = dry_run(path)
            bases.append(base_n / base_s)
            rates.append(n / seconds)
            ratios.append(rates[-1] / bases[-1])
        base_rate, rate = statistics.median(bases), statistics.median(rates)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"rows: {n:,}  invalid: {invalid:,}  columns: {len(COLUMNS)}  template fields: 10")
        print(f"medians of {args.repeat} interleaved rounds (per-round ratio {spread}):")
        print(f"csv.DictReader loop : {base_rate:>10,.0f} rows/s")
        print(f"validate_file       : {rate:>10,.0f} rows/s  ({rate / base_rate:.2f}x DictReader)")
        if args.row_path:
            _, _, row_s = check_row_loop(path)
            print(f"check_row loop (run): {n / row_s:>10,.0f} rows/s")
        if args.cli:
            cli(Path(tmp), path, n)
        for size in [int(s) for s in args.rss_sizes.split(",") if s]:
            sized = Path(tmp) / f"rss-{size}.csv"
            generate(sized, size, args.mixed, args.bad_every)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(sized)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(out.stdout)
            sized.unlink()
            print(
                f"peak RSS at {size:>9,} rows: {figures['peak_mib']:6.1f} MiB "
                f"({figures['rows'] / figures['seconds']:,.0f} rows/s)"
            )


if __name__ == "__main__":
    main()
