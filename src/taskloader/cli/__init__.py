"""The `taskloader` command line. Each sub-command lives in its own module."""

from __future__ import annotations

import click

from taskloader import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="taskloader")
def main() -> None:
    """Bulk-create Amazon Connect tasks from CSV/JSONL files.

    Rows are validated against the instance's task templates, sent with
    StartTaskContact at a paced rate with deterministic ClientTokens, and
    recorded in a durable SQLite ledger so runs can be resumed safely.
    """


__all__ = ["main"]

# Sub-commands, one module each (imported last: they use `main`'s package).
from taskloader.cli.templates import templates as _templates_cmd  # noqa: E402

main.add_command(_templates_cmd)
from taskloader.cli.ledger import ledger as _ledger_cmd  # noqa: E402

main.add_command(_ledger_cmd)
from taskloader.cli.emulator import emulator as _emulator_cmd  # noqa: E402

main.add_command(_emulator_cmd)
from taskloader.cli.validate import validate as _validate_cmd  # noqa: E402

main.add_command(_validate_cmd)
from taskloader.cli.run import run as _run_cmd  # noqa: E402

main.add_command(_run_cmd)
from taskloader.cli.demo import demo as _demo_cmd  # noqa: E402

main.add_command(_demo_cmd)
from taskloader.cli.contacts import contacts as _contacts_cmd  # noqa: E402

main.add_command(_contacts_cmd)
