"""`taskloader contacts update|transfer|stop`: after the import, one call per contact."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from taskloader.cli.common import (
    EXIT_USAGE,
    F,
    Settings,
    ask_yes_no,
    fail,
    run_async,
    settings_options,
)
from taskloader.cli.run import _print, run_options
from taskloader.cli.validate import input_options, with_input_options
from taskloader.errors import UsageError
from taskloader.run.contact_ops import OPERATIONS
from taskloader.run.contact_rows import ContactSource
from taskloader.run.contacts import check_contacts, run_contacts
from taskloader.run.operation import ContactOperation
from taskloader.run.verify import VERIFY

#: `run`'s options that mean the same here (--rate/--burst default to the API's own quota),
#: and the input options of reading a file.
_SHARED = (
    "concurrency", "max_attempts", "row_deadline", "max_failures", "max_failure_rate",
    "max_consecutive_failures", "grace_period", "ledger", "out_dir", "batch_id", "force",
    "redrive_failed", "progress_interval",
    "delimiter", "encoding", "input_format", "ragged_tolerance",
)  # fmt: skip


#: The import's options that say how update reads template field values.
_TEMPLATE_FIELDS = ("template", "timezone", "date_format")


def _shared_options(func: F, *, inputs: bool = True, names: tuple[str, ...] = _SHARED) -> F:
    for option in reversed((*run_options, *(input_options if inputs else ()))):
        name = option(lambda: None).__click_params__[-1].name
        if name in names:
            func = option(func)
    return func


def _template_field_options(func: F) -> F:
    return _shared_options(func, names=_TEMPLATE_FIELDS)


def _run_shared_options(func: F) -> F:
    return _shared_options(func, inputs=False)


def _common(op: ContactOperation, more: Callable[[Any], Any] | None = None) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        if more is not None:
            func = more(func)
        for option in reversed(
            (
                click.argument("file", required=False),
                click.option(
                    "--from-ledger",
                    default=None,
                    help="Take the contacts of this import ledger instead of a FILE.",
                ),
                click.option(
                    "--status",
                    "statuses",
                    multiple=True,
                    type=click.Choice(["succeeded", "failed", "invalid", "pending", "unprocessed"]),
                    help="With --from-ledger: rows with this status (default succeeded).",
                ),
                click.option(
                    "--rate",
                    "pace_rate",
                    type=float,
                    default=None,
                    help=f"Requests/s (default {op.rate:g}, the {op.api} quota).",
                ),
                click.option(
                    "--burst",
                    "pace_burst",
                    type=int,
                    default=None,
                    help=f"Burst (default {op.burst}).",
                ),
                click.option("--dry-run", is_flag=True, help="Check the rows; send nothing."),
                click.option("--yes", "-y", is_flag=True, help="Do not ask to confirm."),
            )
        ):
            func = option(func)
        return _shared_options(settings_options(func))

    return decorate


def _execute(
    op: ContactOperation,
    settings: Settings,
    file: str | None,
    from_ledger: str | None,
    statuses: tuple[str, ...],
    values: dict[str, str],
    pace_rate: float | None,
    pace_burst: int | None,
    dry_run: bool,
    yes: bool,
    source: ContactSource | None = None,
) -> None:
    if (pace_rate is not None and pace_rate <= 0) or (pace_burst is not None and pace_burst < 1):
        fail(UsageError("--rate must be > 0 and --burst >= 1"))
    pace = (pace_rate or op.rate, pace_burst or op.burst)
    source = source or ContactSource(file, from_ledger, statuses or ("succeeded",), values)
    if dry_run:
        where = file or from_ledger

        def summary(valid: int, invalid: int) -> None:
            click.echo(
                f"{where}: {valid + invalid} rows, {valid} valid, {invalid} invalid "
                f"(dry run: nothing sent; the log lists each invalid row's problems)",
                err=True,
            )

        raise SystemExit(run_async(lambda: check_contacts(op, source, settings, summary)))
    interactive = not yes and sys.stdin.isatty() and sys.stderr.isatty()
    if op is VERIFY:
        interactive = False
    if op.name == "stop" and not yes and not interactive:
        fail(
            UsageError("stop ends tasks for good: give --yes to run it off a terminal"), EXIT_USAGE
        )

    async def confirm(count: int) -> bool:
        verb = {"stop": "Stop", "transfer": "Transfer", "update": "Update"}[op.name]
        return await ask_yes_no(f"{verb} {count} contacts ({op.api})?")

    async def main() -> int:
        report = await run_contacts(
            op, source, settings, pace=pace, confirm=confirm if interactive else None
        )
        # verify's rows are checks, not sends; an edited file is another input of a contacts
        # run: --force resumes it (not for transfer, whose rows carry ClientTokens)
        rerun = None if op.name == "transfer" else "the same command again with --force"
        _print(report, redrive=op is not VERIFY, rerun=rerun)
        return report.exit_code

    raise SystemExit(run_async(main))


@click.group()
def contacts() -> None:
    """After an import: update, transfer or stop the contacts of a batch.

    Rows come from a FILE with a contact_id column and the operation's columns, or from an
    import's ledger (--from-ledger, its succeeded rows unless --status says otherwise) with the
    values as flags. Each run has its own ledger, result files and batch id; rerunning the same
    command resumes it. Exit codes as for `taskloader run`.
    """


@contacts.command()
@click.option("--name", default=None, help="New task name (for every row without one).")
@click.option("--description", default=None, help="New description.")
@click.option("--ref", "refs", multiple=True, help="NAME=VALUE: a STRING reference to set.")
@_common(OPERATIONS["update"], more=_template_field_options)
def update(
    settings: Settings, name: str | None, description: str | None, refs: tuple[str, ...], **kw: Any
) -> None:
    """UpdateContact: name, description, template field and ref.<name> columns.

    A column named like a field of the row's template (its template column, else --template)
    sets that field: a reference of the field's type, its value checked as the import checks it
    (--timezone and --date-format as for `run`). ref.<name> sets a STRING reference.
    """
    values = {"name": name or "", "description": description or ""}
    for ref in refs:
        key, sep, value = ref.partition("=")
        if not sep or not key.strip():
            fail(UsageError(f"--ref {ref!r}: expected NAME=VALUE"))
        values[f"ref.{key.strip()}"] = value
    _execute(OPERATIONS["update"], settings, values=values, **kw)


@contacts.command()
@click.option("--queue-id", default=None, help="Queue to transfer to.")
@click.option("--user-id", default=None, help="User (agent) to transfer to.")
@click.option("--contact-flow-id", default=None, help="Flow the transfer runs.")
@_common(OPERATIONS["transfer"])
def transfer(
    settings: Settings,
    queue_id: str | None,
    user_id: str | None,
    contact_flow_id: str | None,
    **kw: Any,
) -> None:
    """TransferContact: to a queue_id or a user_id, through contact_flow_id (active tasks)."""
    values = {
        "queue_id": queue_id or "",
        "user_id": user_id or "",
        "contact_flow_id": contact_flow_id or "",
    }
    _execute(OPERATIONS["transfer"], settings, values=values, **kw)


@contacts.command()
@_common(OPERATIONS["stop"])
def stop(settings: Settings, **kw: Any) -> None:
    """StopContact: end each task (asks on a terminal; --yes off one)."""
    _execute(OPERATIONS["stop"], settings, values={}, **kw)


@contacts.command()
@click.argument("import_ledger", metavar="LEDGER")
@click.option(
    "--rate",
    "pace_rate",
    type=float,
    default=None,
    help="Rows/s (default 10: DescribeContact and ListContactReferences, 10/s each).",
)
@click.option("--burst", "pace_burst", type=int, default=None, help="Burst (default 15).")
@_run_shared_options
@with_input_options
@settings_options
def verify(
    settings: Settings, import_ledger: str, pace_rate: float | None, pace_burst: int | None
) -> None:
    """Compare every succeeded row of an import LEDGER with its task (reads only).

    Each row is mapped again (give the import's mapping options: --template, --timezone, a
    --config with its [mapping]) and compared with DescribeContact and ListContactReferences:
    name, description, template, scheduled time, references by name, type and value. Writes
    verified.csv, mismatched.csv (field, asked, found) and missing.csv; exit 1 when anything
    mismatches or is missing.
    """
    source = ContactSource(from_ledger=import_ledger)
    _execute(VERIFY, settings, None, import_ledger, ("succeeded",), {}, pace_rate, pace_burst,
             dry_run=False, yes=True, source=source)  # fmt: skip
