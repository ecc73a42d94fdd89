"""`taskloader run INPUT`: the paced, retried, idempotent import with a durable ledger."""

from __future__ import annotations

import click

from taskloader.cli.common import F, Settings, run_async, settings_options
from taskloader.cli.validate import run_validation, with_input_options
from taskloader.run.pipeline import RunReport, run_import

run_options = (
    click.option("--rate", type=float, default=None, help="Requests/s ceiling (default 2)."),
    click.option("--burst", type=int, default=None, help="Most sends at once (default 5)."),
    click.option("--concurrency", type=int, default=None, help="Requests in flight (default 4)."),
    click.option("--max-attempts", type=int, default=None, help="Calls per row before failing."),
    click.option("--row-deadline", type=float, default=None, help="Seconds of retrying per row."),
    click.option(
        "--quota-wait",
        type=float,
        default=None,
        help="Seconds to wait for the active-task quota to drain (default 1800).",
    ),
    click.option("--max-failures", type=int, default=None, help="Stop after this many failures."),
    click.option(
        "--max-failure-rate",
        type=float,
        default=None,
        help="Stop when this fraction of sent rows failed (after 20 sends).",
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
@with_run_options
@with_input_options
@settings_options
def run(settings: Settings, input_path: str, dry_run: bool) -> None:
    """Create one Amazon Connect task per valid row of INPUT (a file, - or s3://...).

    Rerunning the same command with the same ledger resumes; no row is sent twice.
    Exit codes: 0 all rows succeeded; 1 finished with failed or invalid rows; 2 usage, config or
    file error; 3 incomplete and resumable; 4 aborted (error budget or a fatal API error).
    """
    if dry_run:
        raise SystemExit(run_validation(settings, input_path, None, "text"))

    async def main() -> int:
        report = await run_import(input_path, settings)
        _print(report)
        return report.exit_code

    raise SystemExit(run_async(main))


def _print(report: RunReport) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    click.echo(f"batch {report.batch_id}: {counts or 'no rows'}", err=True)
    click.echo(f"ledger: {report.ledger}", err=True)
    if report.results is not None:
        click.echo(f"results: {report.out_dir}/", err=True)
    if report.stop_reason:
        detail = f": {report.stop_detail}" if report.stop_detail else ""
        click.echo(f"stopped ({report.stop_reason}){detail}", err=True)
