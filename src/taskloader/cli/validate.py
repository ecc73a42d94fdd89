"""`taskloader validate INPUT`: a dry run. Checks every row; never calls StartTaskContact."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn

from taskloader.cli.common import EXIT_OK, EXIT_ROWS, F, Settings, run_async, settings_options
from taskloader.logs import configure_logging, console
from taskloader.run import options
from taskloader.run.dryrun import ValidationSummary, validate_file

input_options = (
    click.option("--template", default=None, help="Template (name or id) for rows without one."),
    click.option("--strict/--no-strict", default=None, help="Unknown columns are errors."),
    click.option(
        "--delimiter",
        default=None,
        help="CSV delimiter: one character, or tab, comma, semicolon, pipe, \\t "
        "(default: a tab for .tsv, else detected from the header among , ; tab |).",
    ),
    click.option(
        "--encoding",
        default=None,
        help="Text encoding, e.g. cp1252, latin-1, utf-16 (default UTF-8; a byte-order mark "
        "is always obeyed).",
    ),
    click.option(
        "--timezone",
        default=None,
        help="IANA time zone (e.g. Europe/Paris) of date-times written without a UTC offset.",
    ),
    click.option(
        "--date-format",
        default=None,
        help="Date-times also accepted in this pattern, e.g. 'MM/DD/YYYY h:mm AM/PM' or "
        "'DD/MM/YYYY' (ISO 8601 and epoch seconds/milliseconds always are).",
    ),
    click.option(
        "--input-format",
        type=click.Choice(["csv", "jsonl"]),
        default=None,
        help="Input format (default: by file suffix).",
    ),
    click.option(
        "--ragged-tolerance",
        type=int,
        default=None,
        help="Ragged CSV rows tolerated as row errors before the file is refused.",
    ),
    click.option(
        "--check-attachments/--no-check-attachments",
        default=None,
        help="Dry run: HEAD each s3:// attachment; a missing or unreadable one is a row problem.",
    ),
    click.option(
        "--schedule-horizon-days",
        type=float,
        default=None,
        help="How far ahead scheduled_time may be (default 6 days).",
    ),
)


def with_input_options(func: F) -> F:
    """The options of reading and validating input, shared by `validate` and `run`."""
    for option in reversed(input_options):
        func = option(func)
    return func


@click.command()
@click.argument("input_path", metavar="INPUT")
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write invalid rows with their problems here (.csv or .jsonl).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="Summary format; json for automation.",
)
@with_input_options
@settings_options
def validate(settings: Settings, input_path: str, report: str | None, fmt: str) -> None:
    """Check every row of INPUT against its template and the API's limits; send nothing.

    Exit codes: 0 all rows valid, 1 some rows invalid, 2 usage, config or file error, 4 a
    fatal API error (credentials, access, unknown instance) while reading the templates.
    """

    raise SystemExit(run_validation(settings, input_path, report, fmt))


def run_validation(settings: Settings, input_path: str, report: str | None, fmt: str) -> int:
    if fmt == "json":  # stdout carries the summary: keep logs off it
        configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)

    async def main() -> int:
        tty = sys.stderr.isatty() and fmt == "text"
        async with options.template_cache(settings) as cache:
            if tty:
                with Progress(
                    SpinnerColumn(),
                    TextColumn("validated {task.completed} rows"),
                    console=console(),
                    transient=True,
                ) as progress:
                    task = progress.add_task("validate", total=None)
                    summary = await validate_file(
                        input_path,
                        settings,
                        cache,
                        report=Path(report) if report else None,
                        on_progress=lambda n: progress.update(task, completed=n),
                    )
            else:
                summary = await validate_file(
                    input_path, settings, cache, report=Path(report) if report else None
                )
        _print(summary, fmt, report)
        return EXIT_OK if summary.invalid == 0 else EXIT_ROWS

    return run_async(main)


def _print(summary: ValidationSummary, fmt: str, report: str | None) -> None:
    if fmt == "json":
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    click.echo(
        f"{summary.input}: {summary.rows} rows, {summary.valid} valid, {summary.invalid} invalid"
    )
    for code, entry in summary.to_json()["problems"].items():
        rows = ", ".join(str(n) for n in entry["first_rows"])
        more = ", ..." if entry["count"] > len(entry["first_rows"]) else ""
        noun = "row" if entry["count"] == 1 else "rows"
        click.echo(f"  {code}: {entry['count']} {noun} (first: {rows}{more})")
        where = f"{entry['field']}: " if entry["field"] else ""
        click.echo(f"      {where}{entry['message']}")
    if summary.unknown_columns:
        near = summary.did_you_mean
        named = [
            f"{c!r} (did you mean {near[c]!r}?)" if c in near else repr(c)
            for c in summary.unknown_columns
        ]
        click.echo(f"  unknown columns (ignored): {', '.join(named)}")
    if report and summary.invalid:
        click.echo(f"invalid rows and their problems written to {report}")
    elif summary.invalid:
        click.echo("the rows and all their problems: the same command with --report invalid.csv")
