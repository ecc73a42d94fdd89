"""`taskloader emulator`: serve the local Amazon Connect task-API emulator."""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import click
import structlog

from taskloader import __version__
from taskloader.emulator import EmulatorSettings, load_settings, running_emulator
from taskloader.emulator.model import model_source
from taskloader.emulator.settings import DAY, parse_faults, parse_quotas
from taskloader.errors import TaskloaderError, UsageError


def _rate_limits(values: tuple[str, ...], base: EmulatorSettings) -> dict[str, Any]:
    """``off`` | ``RATE/BURST`` (every operation) | ``Operation=RATE/BURST`` | ``Operation=off``."""
    table: dict[str, Any] = {}
    for value in values:
        op, _, spec = value.rpartition("=")
        if spec == "off":
            if not op:
                return {"quotas": "off"}
            table[op] = "off"
            continue
        rate, _, burst = spec.partition("/")
        try:
            quota = {"rate": float(rate), "burst": int(burst or max(1, round(float(rate))))}
        except ValueError as exc:
            raise UsageError(f"--rate-limit {value!r}: expected RATE/BURST, e.g. 2/5") from exc
        for name in [op] if op else list(base.quotas):
            table[name] = quota
    return {"quotas": table}


def _off_or_number(value: str | None, flag: str) -> float | None:
    if value is None or value == "off":
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise UsageError(f"{flag} must be a number or 'off'") from exc


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=0, show_default=True, help="Port to bind; 0 picks a free one.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="World, quotas, limits and faults (TOML; see docs/emulator.md).",
)
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Preload task templates from the *.json files in this directory.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep templates and contacts in this SQLite file across restarts.",
)
@click.option("--seed", type=int, help="Seed of the fault injection sequence.")
@click.option(
    "--rate-limit",
    multiple=True,
    metavar="[OP=]RATE/BURST|off",
    help="API rate quota; repeatable. 'off' turns every quota off.",
)
@click.option(
    "--active-task-limit",
    metavar="N|off",
    help="Concurrent active tasks per instance (default 2500).",
)
@click.option(
    "--task-lifetime",
    metavar="SECONDS|off",
    help="Seconds a task stays active (default: until complete-tasks).",
)
@click.option(
    "--schedule-horizon-days", type=float, help="How far ahead ScheduledTime may be (default 6)."
)
@click.option(
    "--idempotency-window",
    type=float,
    metavar="SECONDS",
    help="How long a ClientToken is remembered (default 7 days).",
)
@click.option("--fault-throttle", type=float, help="Probability of an injected 429.")
@click.option("--fault-500", type=float, help="Probability of an injected 500.")
@click.option("--fault-503", type=float, help="Probability of an injected 503.")
@click.option("--fault-drop", type=float, help="Probability of closing the connection unanswered.")
@click.option("--fault-hang", type=float, help="Probability of never answering.")
@click.option("--latency-ms", type=float, help="Added latency per request.")
@click.option("--jitter-ms", type=float, help="Extra random latency, 0..N ms.")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--version",
    "show_version",
    is_flag=True,
    help="Print which Connect model (botocore version and file) the emulator serves, and exit.",
)
def emulator(show_version: bool, **opts: Any) -> None:
    """Serve the local Amazon Connect task-API emulator.

    The first line printed is the bound URL (use it as --endpoint-url). Stops on
    SIGINT or SIGTERM.
    """
    if show_version:
        source = model_source()
        click.echo(
            f"taskloader {__version__}; Connect model {source['service']} "
            f"{source['api_version']} of botocore {source['botocore']} ({source['path']})"
        )
        return
    logging.basicConfig(stream=sys.stderr, level=opts["log_level"].upper())
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, opts["log_level"].upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    try:
        settings = _settings(opts)
        anyio.run(_serve, settings)
    except TaskloaderError as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot start the emulator: {exc}") from exc


def _settings(opts: dict[str, Any]) -> EmulatorSettings:
    settings = EmulatorSettings(host=opts["host"], port=opts["port"])
    if opts["config_file"] is not None:
        settings = load_settings(opts["config_file"], settings)
    changes: dict[str, Any] = {
        k: opts[k] for k in ("templates_dir", "state_path", "seed") if opts[k] is not None
    }
    if opts["rate_limit"]:
        raw = _rate_limits(opts["rate_limit"], settings)["quotas"]
        changes["quotas"] = parse_quotas(raw, "--rate-limit", settings.quotas)
    if opts["active_task_limit"] is not None:
        limit = _off_or_number(opts["active_task_limit"], "--active-task-limit")
        changes["active_task_limit"] = None if limit is None else int(limit)
    if opts["task_lifetime"] is not None:
        changes["task_lifetime_s"] = _off_or_number(opts["task_lifetime"], "--task-lifetime")
    if opts["schedule_horizon_days"] is not None:
        changes["schedule_horizon_s"] = opts["schedule_horizon_days"] * DAY
    if opts["idempotency_window"] is not None:
        changes["idempotency_window_s"] = opts["idempotency_window"]
    flags = {
        "throttle": opts["fault_throttle"],
        "error_500": opts["fault_500"],
        "error_503": opts["fault_503"],
        "drop": opts["fault_drop"],
        "hang": opts["fault_hang"],
        "latency_ms": opts["latency_ms"],
        "jitter_ms": opts["jitter_ms"],
    }
    faults = {k: v for k, v in flags.items() if v is not None}
    if faults:
        changes["faults"] = parse_faults(faults, "flags", settings.faults)
    return replace(settings, **changes)


async def _serve(settings: EmulatorSettings) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with running_emulator(settings) as emu:
            # The first line on stdout is the URL, so a parent process can read it.
            print(emu.url, flush=True)
            click.echo(
                f"taskloader emulator: instance {emu.instance_id}, "
                f"inspect {emu.url}/_emulator/stats; Ctrl-C stops",
                err=True,
            )
            async for _signum in signals:
                break
