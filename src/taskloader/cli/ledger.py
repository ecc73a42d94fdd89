"""`taskloader ledger summary | export`: look into a ledger, also while its run is live.

Both open the ledger read-only and take no lock, so they never disturb a running import.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from taskloader.cli.common import EXIT_OK, EXIT_USAGE, fail
from taskloader.errors import TaskloaderError
from taskloader.ledger.results import export_records
from taskloader.ledger.store import LedgerReader, RowStatus

_STATUSES = [s.value for s in RowStatus]


@click.group()
def ledger() -> None:
    """Summarise or export a run's ledger (safe while the run is live)."""


@ledger.command("summary")
@click.argument("ledger_path", metavar="LEDGER", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def summary_cmd(ledger_path: str, fmt: str) -> None:
    """Print the number of rows per status."""
    try:
        with LedgerReader.open_readonly(ledger_path) as reader:
            counts = reader.counts()
            info = {
                "ledger": ledger_path,
                "batch_id": reader.batch_id,
                "input": reader.input_name,
                "created_at": reader.created_at,
                "total": sum(counts.values()),
                "counts": counts,
            }
    except TaskloaderError as exc:
        fail(exc)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        raise SystemExit(EXIT_OK)
    console = Console()
    console.print(f"ledger [bold]{ledger_path}[/]  input {info['input']}  batch {info['batch_id']}")
    table = Table()
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status, n in counts.items():
        table.add_row(status, str(n))
    table.add_section()
    table.add_row("total", str(info["total"]))
    console.print(table)
    raise SystemExit(EXIT_OK)


@ledger.command("export")
@click.argument("ledger_path", metavar="LEDGER", type=click.Path(dir_okay=False))
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
    type=click.Path(dir_okay=False),
    help="Output file: .csv (formulas neutralised) or .jsonl.",
)
def export_cmd(ledger_path: str, statuses: tuple[str, ...], out_file: str) -> None:
    """Export the rows with the given statuses, in input order."""
    try:
        with LedgerReader.open_readonly(ledger_path) as reader:
            n = export_records(reader, statuses, out_file)
    except TaskloaderError as exc:
        fail(exc)
    except ValueError as exc:
        fail(exc, EXIT_USAGE)
    click.echo(f"exported {n} rows to {out_file}", err=True)
    raise SystemExit(EXIT_OK)
