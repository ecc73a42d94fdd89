"""`taskloader templates list | show | pull` (look at the instance's task templates), and the
templates-as-code commands `export | plan | apply | validate` from :mod:`.templates_code`."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import click

from taskloader.cli.common import EXIT_OK, EXIT_USAGE, Settings, run_async, settings_options
from taskloader.cli.templates_code import apply_cmd, export_cmd, plan_cmd, validate_cmd
from taskloader.run import options
from taskloader.templates.cache import TemplateLookupError


@click.group()
def templates() -> None:
    """Look at the instance's task templates, and manage them as code.

    `pull` writes the exact API form (ids included) for offline `validate --templates`;
    `export` writes the portable form (flows by name, no server values) that `plan` and `apply`
    take to reproduce the templates in another instance.
    """


for _command in (export_cmd, plan_cmd, apply_cmd, validate_cmd):
    templates.add_command(_command)


@templates.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@settings_options
def list_cmd(settings: Settings, fmt: str) -> None:
    """List the task templates of the instance."""

    async def main() -> int:
        async with options.template_cache(settings) as cache:
            found = await cache.summaries()
        rows = [{"id": t.id, "name": t.name, "status": t.status} for t in found]
        if fmt == "json":
            click.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                click.echo(f"{row['id']}\t{row['status']}\t{row['name']}")
        return EXIT_OK

    raise SystemExit(run_async(main))


@templates.command("show")
@click.argument("ref")
@settings_options
def show_cmd(settings: Settings, ref: str) -> None:
    """Show one template (by name or id) as JSON."""

    async def main() -> int:
        async with options.template_cache(settings) as cache:
            try:
                template = await cache.resolve(ref)
            except TemplateLookupError as exc:
                click.echo(f"taskloader: error: {exc}", err=True)
                return EXIT_USAGE
        click.echo(json.dumps(template.to_api(), indent=2))
        return EXIT_OK

    raise SystemExit(run_async(main))


@templates.command("pull", short_help="Write the templates in the API form.")
@click.option(
    "--out",
    "target_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory to write one JSON file per template into.",
)
@settings_options
def pull_cmd(settings: Settings, target_dir: str) -> None:
    """Write every template to DIR/<id>.json in the exact API form (GetTaskTemplate's answer,
    with the instance's ids), for offline `validate --templates DIR`. To copy templates to
    another instance use `templates export` (the portable form) and `templates apply`."""

    async def main() -> int:
        target = anyio.Path(target_dir)
        await target.mkdir(parents=True, exist_ok=True)
        async with options.template_cache(settings) as cache:
            summaries = await cache.summaries()
            for summary in summaries:
                template = await cache.resolve(summary.id)
                text = json.dumps(template.to_api(), indent=2, sort_keys=True)
                await (target / f"{template.id}.json").write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {len(summaries)} templates to {Path(target_dir)}")
        return EXIT_OK

    raise SystemExit(run_async(main))
