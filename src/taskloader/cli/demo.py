"""`taskloader demo`: import the example file into the embedded emulator (no AWS needed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from taskloader.cli.common import Settings, run_async, settings_options
from taskloader.examples import EXAMPLES_DIR
from taskloader.run.demo import DEMO_KEY, DemoOptions, run_demo


@click.command()
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=EXAMPLES_DIR,
    help="Holds templates/*.json and demo/callbacks.csv (default: the examples shipped in "
    "the package).",
)
@click.option(
    "--out",
    "out_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Each demo run writes its ledger and results in a new folder here.",
)
@click.option(
    "--throttle",
    type=float,
    default=0.05,
    show_default=True,
    help="Probability of an injected ThrottlingException per request.",
)
@settings_options
def demo(settings: Settings, config_dir: Path, out_root: Path, throttle: float) -> None:
    """Start the emulator, import the example callbacks.csv, show the results."""
    # The demo's emulator verifies signatures against the demo's own key: sign with it, never
    # with the user's credentials (this process talks to nothing but its own emulator).
    os.environ["AWS_ACCESS_KEY_ID"] = DEMO_KEY.access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = DEMO_KEY.secret_access_key
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    out_dir = out_root / time.strftime("run-%Y%m%d-%H%M%S")
    options = DemoOptions(config_dir=config_dir, out_dir=out_dir, throttle=throttle)

    async def main() -> int:
        report = await run_demo(options, settings)
        c = report.counts
        left = c.get("pending", 0) + c.get("unprocessed", 0)
        click.echo("")
        click.echo(
            f"Imported {c.get('succeeded', 0)} tasks; {c.get('invalid', 0)} rows invalid, "
            f"{c.get('failed', 0)} failed, {left} left to send."
        )
        click.echo(
            f"  throttled answers absorbed: {report.stats.get('throttles', 0)}, "
            f"retries: {report.stats.get('retries', 0)}, "
            f"achieved rate: {report.stats.get('achieved_rate')}/s"
        )
        click.echo(f"  ledger:  {report.ledger}")
        click.echo(
            f"  results: {report.out_dir}/ (succeeded.csv, invalid.csv, failed.csv, "
            "unprocessed.csv, summary.json)"
        )
        click.echo(f"  inspect: taskloader ledger summary {report.ledger}")
        # The demo's invalid rows are deliberate: success means every valid row was imported.
        return 0 if c.get("failed", 0) == 0 and left == 0 else report.exit_code

    raise SystemExit(run_async(main))
