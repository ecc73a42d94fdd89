"""`taskloader run INPUT`: the paced, retried, idempotent import with a durable ledger."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from taskloader.cli.common import F, Settings, ask_yes_no, fail, run_async, settings_options
from taskloader.cli.validate import run_validation, with_input_options
from taskloader.errors import UsageError
from taskloader.ledger.results import result_names
from taskloader.run.pipeline import run_import
from taskloader.run.plan import RunPlan
from taskloader.run.report import RunReport

run_options = (
    click.option(
        "--rate", type=float, default=None, help="Quota to stay under, requests/s (default 2)."
    ),
    click.option("--burst", type=int, default=None, help="Burst of that quota (default 5)."),
    click.option("--concurrency", type=int, default=None, help="Requests in flight (default 4)."),
    click.option("--max-attempts", type=int, default=None, help="Calls per row before failing."),
    click.option("--row-deadline", type=float, default=None, help="Seconds of retrying per row."),
    click.option(
        "--quota-wait",
        type=float,
        default=None,
        help="Seconds to wait for the active-task quota to drain (default 1800).",
    ),
    click.option(
        "--backoff-base",
        type=float,
        default=None,
        help="Backoff ceiling of the first retry, seconds, doubled per retry (default 0.5).",
    ),
    click.option(
        "--backoff-cap",
        type=float,
        default=None,
        help="Longest backoff between two attempts of a row, seconds (default 20).",
    ),
    click.option("--max-failures", type=int, default=None, help="Stop after this many failures."),
    click.option(
        "--max-failure-rate",
        type=float,
        default=None,
        help="Stop when this fraction of sent rows failed (after 20 sends).",
    ),
    click.option(
        "--max-consecutive-failures",
        type=int,
        default=None,
        help="Stop after this many failed rows in a row (default 50; 0: no limit).",
    ),
    click.option(
        "--grace-period",
        type=float,
        default=None,
        help="Seconds in-flight calls get after SIGINT/SIGTERM (default 20).",
    ),
    click.option(
        "--attachment-url-ttl",
        type=int,
        default=None,
        help="Seconds a presigned s3:// attachment URL stays valid (default 3600, max 604800).",
    ),
    click.option("--ledger", default=None, help="SQLite ledger (rerun with it to resume)."),
    click.option("--out-dir", default=None, help="Result files directory (default: the ledger's)."),
    click.option("--batch-id", default=None, help="Idempotency scope; a new id imports again."),
    click.option("--force", is_flag=True, default=None, help="Resume although the input changed."),
    click.option("--redrive-failed", is_flag=True, default=None, help="Send failed rows again."),
    click.option(
        "--checkpoint-interval",
        type=float,
        default=None,
        help="Seconds between ledger uploads to an s3:// --out-dir (default 60).",
    ),
    click.option(
        "--progress-interval",
        type=float,
        default=None,
        help="Seconds between progress events when not on a terminal.",
    ),
)


def with_run_options(func: F) -> F:
    for option in reversed(run_options):
        func = option(func)
    return func


@click.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--dry-run", is_flag=True, help="Only validate (same as `taskloader validate`).")
@click.option(
    "--yes", "-y", is_flag=True, help="Send without asking to confirm the plan (on a terminal)."
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --dry-run: write invalid rows with their problems here (.csv or .jsonl; "
    "default: the run's invalid.csv in a local --out-dir).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="With --dry-run: the summary's format.",
)
@with_run_options
@with_input_options
@settings_options
def run(
    settings: Settings, input_path: str, dry_run: bool, yes: bool, report: str | None, fmt: str
) -> None:
    """Create one Amazon Connect task per valid row of INPUT (a file, - or s3://...).

    The whole input is read and checked first (a file error stops the run before anything is
    sent); on a terminal the plan is shown for confirmation (skip it with --yes). Rerunning the
    same command resumes: rows are matched by their key, and no row is sent twice.
    Exit codes: 0 all rows succeeded; 1 finished with failed or invalid rows; 2 usage, config or
    file error; 3 incomplete and resumable; 4 aborted (error budget or a fatal API error).
    """
    if dry_run:
        raise SystemExit(
            run_validation(settings, input_path, _dry_run_report(settings, report), fmt)
        )
    interactive = not yes and sys.stdin.isatty() and sys.stderr.isatty()

    async def main() -> int:
        outcome = await run_import(input_path, settings, confirm=_confirm if interactive else None)
        _print(outcome)
        return outcome.exit_code

    raise SystemExit(run_async(main))


def _dry_run_report(settings: Settings, report: str | None) -> str | None:
    """Where a dry run writes its invalid rows: --report, else a local --out-dir's
    ``invalid.csv`` (named as the run names it, after --ledger), else nowhere."""
    out_dir = settings.out_dir
    if report is not None or not out_dir:
        return report
    if out_dir.startswith("s3://"):
        click.echo(
            f"note: a dry run writes nothing to {out_dir}; --report FILE keeps its invalid rows",
            err=True,
        )
        return None
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(UsageError(f"--out-dir {out_dir}: {exc.strerror or exc}"))
    name = result_names(Path(settings.ledger or "ledger.sqlite"))["invalid"]
    return str(Path(out_dir) / name)


async def _confirm(plan: RunPlan) -> bool:
    click.echo(plan.text(), err=True)
    return await ask_yes_no(f"Create {plan.to_send} tasks?")


def _print(
    report: RunReport,
    *,
    redrive: bool = True,
    rerun: str | None = "the same command again with --force (an edited input)",
) -> None:
    """The short human summary at the end of a run, on standard error: what happened, where the
    ledger and result files are, and the next command for each kind of row left (``rerun``:
    how to run again after fixing invalid rows in the input; None: not that way)."""
    counts = report.counts
    left = counts.get("pending", 0) + counts.get("unprocessed", 0)
    done = ", ".join(
        f"{counts.get(s, 0)} {s}" for s in ("succeeded", "failed", "invalid") if counts.get(s)
    )
    lines = [
        f"batch {report.batch_id}: {done or 'nothing done yet'}",
        f"  sent by this run: {report.sent}; left to send: {left}",
    ]
    if report.stop_reason:
        detail = f": {report.stop_detail}" if report.stop_detail else ""
        lines.append(f"  stopped ({report.stop_reason}){detail}")
    if report.read_only_to is not None:
        lines.append(
            f"  the input was read only up to row {report.read_only_to} (stopped before the "
            "first send): nothing was sent; the same command starts again"
        )
    if report.absent:
        lines.append(
            f"  {report.absent} rows sent by an earlier run are no longer in the input (their "
            "tasks stay; `taskloader ledger summary` counts them)"
        )
    lines.append(f"ledger:  {report.ledger}")
    files = report.results
    if files is not None:
        lines.append(f"results: {_in_results(report, files.summary.name)}")
    steps = []
    if left:
        steps.append("resume: run the same command again (rows are matched by key)")
        if files is not None and files.unprocessed is not None:
            steps.append(f"  the rows not sent: {_in_results(report, files.unprocessed.name)}")
        else:
            steps.append(
                f"  list the rows not sent: taskloader ledger export {report.ledger} "
                "--status pending --status unprocessed --out unprocessed.csv"
            )
    if counts.get("failed") and redrive:
        where = f" (listed in {_in_results(report, files.failed.name)})" if files else ""
        steps.append(
            f"failed rows{where}: once their cause is fixed (taskloader.message says it), "
            "the same command with --redrive-failed sends them again"
        )
    if counts.get("invalid"):
        if files is not None:
            invalid = _in_results(report, files.invalid.name)
            more = "," if rerun else ""
            steps.append(f"invalid rows: correct the rows in {invalid} and run that file{more}")
            if rerun:
                steps.append(f"  or fix them in the input and run {rerun}")
        elif rerun:
            steps.append(f"invalid rows: fix them in the input and run {rerun}")
    if steps:
        lines += ["next:", *(f"  {step}" for step in steps)]
    click.echo("\n".join(lines), err=True)


def _in_results(report: RunReport, name: str) -> str:
    """Where the result file ``name`` is: the results directory, local or ``s3://``."""
    return f"{report.out_dir.rstrip('/')}/{name}"
