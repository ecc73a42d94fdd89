"""`taskloader templates export | plan | apply | validate`: task templates as code.

Part of the ``templates`` group (:mod:`taskloader.cli.templates` adds these commands).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from taskloader.cli.common import (
    EXIT_OK,
    EXIT_ROWS,
    EXIT_USAGE,
    Settings,
    ask_yes_no,
    run_async,
    settings_options,
)
from taskloader.errors import UsageError
from taskloader.run import options
from taskloader.run.template_sync import Plan, PlanItem, load_dir, open_sync
from taskloader.storage.s3 import is_s3

F = TypeVar("F", bound=Callable[..., Any])

_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))


def _pacing(func: F) -> F:
    rate = click.option(
        "--rate",
        "call_rate",
        type=float,
        default=2.0,
        show_default=True,
        help="Template calls per second (the template operations' default quota is 2/s).",
    )
    burst = click.option(
        "--burst",
        "call_burst",
        type=int,
        default=5,
        show_default=True,
        help="Template calls that may go at once.",
    )
    return rate(burst(func))


@click.command("validate", short_help="Check template files offline.")
@_DIR
def validate_cmd(directory: Path) -> None:
    """Check the template files of DIRECTORY offline: the same file checks as `plan`.

    Exit 0 when every file is valid, 2 when one is not (each problem names the file and the
    member or field).
    """
    try:
        specs = load_dir(directory)
    except UsageError as exc:
        click.echo(f"taskloader: error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    click.echo(f"{len(specs)} template files in {directory} are valid")


@click.command("export", short_help="Write the templates as portable files.")
@_DIR
@_pacing
@settings_options
def export_cmd(settings: Settings, directory: Path, call_rate: float, call_burst: int) -> None:
    """Write each task template of the instance to DIRECTORY/<name>.json, in the portable form.

    Portable: flows and quick connects are named (``"ContactFlow": "Callback flow"``, not a
    ``ContactFlowId``) and nothing the server assigns (Id, Arn, timestamps) is written, so the
    files can be kept in git and applied to another instance with `templates apply`. (`templates
    pull` writes the exact API form instead, for offline `validate --templates`.)
    """

    async def main() -> int:
        sync = options.sync_options(settings, rate=call_rate, burst=call_burst)
        async with open_sync(sync) as engine:
            written = await engine.export(directory)
        click.echo(f"exported {len(written)} task templates to {directory}")
        for path in written:
            click.echo(f"  {path.name}")
        present = await anyio.to_thread.run_sync(lambda: set(directory.glob("*.json")))
        others = sorted(present - set(written))
        if others:
            click.echo(
                f"left as they were ({len(others)} files of templates not in the instance?): "
                + ", ".join(p.name for p in others)
            )
        return EXIT_OK

    raise SystemExit(run_async(main))


@click.command("plan", short_help="Show what apply would change.")
@_DIR
@click.option("--prune", is_flag=True, help="Also delete templates that no file describes.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_pacing
@settings_options
def plan_cmd(
    settings: Settings, directory: Path, prune: bool, fmt: str, call_rate: float, call_burst: int
) -> None:
    """Show what `apply DIRECTORY` would change in the instance, and change nothing.

    Templates are matched by name. Flows and quick connects named in the files resolve in the
    target instance. Exit codes: 0 the plan was made (whether or not it changes anything);
    2 a file is invalid or a name does not resolve (nothing was sent); 4 the API failed.
    """

    async def main() -> int:
        sync = options.sync_options(settings, rate=call_rate, burst=call_burst)
        specs = await anyio.to_thread.run_sync(load_dir, directory)
        async with open_sync(sync) as engine:
            plan = await engine.plan(specs, prune=prune)
        if fmt == "json":
            click.echo(json.dumps(plan.to_json(), indent=2))
        else:
            _show(plan, prune)
        return EXIT_OK

    raise SystemExit(run_async(main))


@click.command("apply", short_help="Make the templates match the files.")
@_DIR
@click.option("--prune", is_flag=True, help="Also delete templates that no file describes.")
@click.option("--yes", is_flag=True, help="Apply without asking (needed off a terminal).")
@click.option(
    "--backup",
    "backup",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to save each template before it is updated or deleted, one new directory "
    "per apply (default: templates-taskloader/template-backups, or under --out-dir).",
)
@click.option("--out-dir", default=None, help="Workspace directory (backups go under it).")
@_pacing
@settings_options
def apply_cmd(
    settings: Settings,
    directory: Path,
    prune: bool,
    yes: bool,
    backup: Path | None,
    call_rate: float,
    call_burst: int,
) -> None:
    """Make the instance's task templates match the files of DIRECTORY.

    Shows the plan, asks for confirmation on a terminal (off a terminal it needs --yes), then
    creates, updates and (with --prune) deletes. Each template is saved in its API form before
    it is updated or deleted: `apply` of that backup directory undoes the change. Creates carry
    a ClientToken from the instance and the file's content, so a re-run after a crash creates
    nothing twice; a second apply of the same files changes nothing. Exit codes: 0 applied (or
    nothing to do); 1 declined at the prompt; 2 invalid files, or no --yes off a terminal;
    4 an API call failed or a template changed in the instance since the plan.
    """

    async def main() -> int:
        sync = options.sync_options(settings, rate=call_rate, burst=call_burst)
        backup_root = backup or _default_backup(settings)
        specs = await anyio.to_thread.run_sync(load_dir, directory)
        async with open_sync(sync) as engine:
            plan = await engine.plan(specs, prune=prune)
            _show(plan, prune)
            if not plan.changes_anything:
                click.echo("nothing to do: the instance matches the files")
                return EXIT_OK
            if not yes:
                if not sys.stdin.isatty():
                    click.echo(
                        "taskloader: error: refusing to change the instance without --yes "
                        "(standard input is not a terminal)",
                        err=True,
                    )
                    return EXIT_USAGE
                if not await ask_yes_no(f"Apply this plan to instance {plan.instance_id}?"):
                    click.echo("nothing was changed")
                    return EXIT_ROWS
            report = await engine.apply(plan, backup_root, _progress)
        click.echo(
            f"applied: {report.count('create')} created, {report.count('update')} updated, "
            f"{report.count('delete')} deleted"
        )
        if report.backup_dir is not None:
            click.echo(f"backup of the templates changed: {report.backup_dir}")
            click.echo(
                f"  undo with: taskloader templates apply {report.backup_dir} "
                f"--instance-id {plan.instance_id}"
            )
        return EXIT_OK

    raise SystemExit(run_async(main))


def _default_backup(settings: Settings) -> Path:
    """``<out-dir>/template-backups``, or ``templates-taskloader/template-backups`` here."""
    if is_s3(settings.out_dir):
        raise UsageError("template backups need a local directory: set --backup")
    return Path(settings.out_dir or "templates-taskloader") / "template-backups"


def _progress(done: str, item: PlanItem, saved: Path | None) -> None:
    click.echo(f"{done} {item.name}" + (f" (was saved to {saved})" if saved else ""))


_MARK = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}


def _show(plan: Plan, prune: bool) -> None:
    counts = {a: len(plan.of(a)) for a in _MARK}
    click.echo(
        f"plan for instance {plan.instance_id}: {counts['create']} to create, "
        f"{counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['unchanged']} unchanged"
    )
    for action in _MARK:
        for item in plan.of(action):
            where = f"  ({Path(item.source).name})" if item.source else ""
            click.echo(f"{_MARK[action]} {action:<9} {item.name}{where}")
            for change in item.changes:
                click.echo(f"      {change.text()}")
    if plan.kept and not prune:
        names = ", ".join(repr(n) for n in plan.kept)
        click.echo(f"not in the files, kept (--prune deletes them): {names}")
