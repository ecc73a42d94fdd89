"""`taskloader ledger summary | export`: look into a ledger, also while its run is live.

Both open the ledger read-only and take no lock, so they never disturb a running import. A
ledger in S3 (``s3://bucket/prefix/ledger.sqlite``, or the ``--out-dir`` prefix itself) is its
last checkpoint, downloaded to a temporary file first.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import anyio
import click
from rich.console import Console
from rich.table import Table

from taskloader.cli.common import AWS_CONFIG_ERRORS, EXIT_OK, EXIT_USAGE, F, fail
from taskloader.errors import TaskloaderError, UsageError
from taskloader.ledger.results import export_records
from taskloader.ledger.store import LedgerReader, RowStatus
from taskloader.logs import configure_logging
from taskloader.run.options import aws_options
from taskloader.settings import load_settings
from taskloader.storage.s3 import S3Url, download_object, is_s3
from taskloader.storage.s3_dir import LEDGER_NAME

_STATUSES = [s.value for s in RowStatus]
_LEDGER_HELP = "LEDGER is a file or s3://bucket/prefix/ledger.sqlite (a prefix: its ledger.sqlite)."


def _aws_flags(func: F) -> F:
    func = click.option("--profile", default=None, help="AWS profile (for an s3:// ledger).")(func)
    return click.option("--region", default=None, help="AWS Region (for an s3:// ledger).")(func)


@contextlib.contextmanager
def _open(location: str, region: str | None, profile: str | None) -> Iterator[LedgerReader]:
    """The ledger at ``location``, read-only; an ``s3://`` one downloaded to a temporary file
    (in a worker thread) that is removed afterwards."""
    if not is_s3(location):
        with LedgerReader.open_readonly(location) as reader:
            yield reader
        return
    url = S3Url.parse(location)
    if url.is_prefix:  # an --out-dir prefix: the ledger the run keeps there
        url = url.join(LEDGER_NAME)
    aws = aws_options(load_settings(flags={"region": region, "profile": profile}))
    with tempfile.TemporaryDirectory(prefix="taskloader-ledger-") as tmp:
        path = Path(tmp) / (url.name or LEDGER_NAME)
        fetch = functools.partial(download_object, aws, url, path)
        anyio.run(anyio.to_thread.run_sync, fetch)
        with LedgerReader.open_readonly(path) as reader:
            yield reader


@click.group()
def ledger() -> None:
    """Summarise or export a run's ledger (safe while the run is live)."""


@ledger.command("summary", epilog=_LEDGER_HELP)
@click.argument("ledger_path", metavar="LEDGER")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@_aws_flags
def summary_cmd(ledger_path: str, fmt: str, region: str | None, profile: str | None) -> None:
    """Print the number of rows per status.

    Exit codes: 0 done, 2 no such ledger or a damaged one, 4 S3 refused access.
    """
    try:
        with _open(ledger_path, region, profile) as reader:
            passed = reader.pass_counts()
            counts = passed.counts
            info = {
                "ledger": ledger_path,
                "batch_id": reader.batch_id,
                "input": reader.input_name,
                "created_at": reader.created_at,
                "total": sum(counts.values()),
                "counts": counts,
                # sent by an earlier run, their key no longer in the input (not in the total)
                "absent_keys": passed.absent,
                # False: the latest run stopped during its pre-flight pass (None: no such pass)
                "input_read_whole": reader.pass_complete if reader.pass_no else None,
            }
    except TaskloaderError as exc:
        fail(exc)
    except AWS_CONFIG_ERRORS as exc:
        fail(exc, EXIT_USAGE)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        raise SystemExit(EXIT_OK)
    console = Console()
    console.print(
        f"ledger [bold]{ledger_path}[/]  input {info['input']}  batch {info['batch_id']}",
        markup=True,
        highlight=False,
    )
    table = Table()
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status, n in counts.items():
        table.add_row(status, str(n))
    table.add_section()
    table.add_row("total", str(info["total"]))
    console.print(table)
    if passed.absent:
        console.print(f"{passed.absent} rows sent earlier are no longer in the input")
    if info["input_read_whole"] is False:
        console.print("the latest run stopped before it had read the whole input")
    raise SystemExit(EXIT_OK)


@ledger.command("export", epilog=_LEDGER_HELP)
@click.argument("ledger_path", metavar="LEDGER")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    required=True,
    type=click.Choice(_STATUSES),
    help="Export rows with this status (repeatable).",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Output file: .csv (formulas neutralised) or .jsonl; - for standard output.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default=None,
    help="Output format (default: by the --out suffix; csv for -).",
)
@_aws_flags
def export_cmd(
    ledger_path: str,
    statuses: tuple[str, ...],
    out_file: str,
    fmt: str | None,
    region: str | None,
    profile: str | None,
) -> None:
    """Export the rows with the given statuses, in input order.

    Each row is written as its input columns, then `row` and `line`, then the outcome
    (`taskloader.status`, `taskloader.error_code`, `taskloader.message`,
    `taskloader.contact_id`, `taskloader.attempts`, `taskloader.batch_id`). Exit codes: 0 done,
    2 usage error (an --out that cannot be written too), no such
    ledger or a damaged one, 4 S3 refused access.
    """
    if out_file == "-":  # standard output carries the rows: keep any log line off it
        fmt = fmt or "csv"
        configure_logging(stream=sys.stderr)
    try:
        with _open(ledger_path, region, profile) as reader:
            out: str | IO[str] = out_file
            if out_file == "-":
                out = sys.stdout
            n = export_records(reader, statuses, out, fmt)
            if out_file == "-":
                sys.stdout.flush()
    except TaskloaderError as exc:
        fail(exc)
    except AWS_CONFIG_ERRORS as exc:
        fail(exc, EXIT_USAGE)
    except ValueError as exc:
        fail(exc, EXIT_USAGE)
    except OSError as exc:  # the output cannot be written: its folder is missing, no permission
        fail(UsageError(f"--out {out_file}: {exc.strerror or exc}"), EXIT_USAGE)
    where = "standard output" if out_file == "-" else out_file
    click.echo(f"exported {n} rows to {where}", err=True)
    raise SystemExit(EXIT_OK)
