"""What every sub-command shares: the settings options, error handling and exit codes."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import click
import structlog
from botocore.exceptions import (
    BotoCoreError,
    ConfigNotFound,
    ConfigParseError,
    InvalidConfigError,
    InvalidRegionError,
    NoRegionError,
    ProfileNotFound,
)

from taskloader.errors import TaskloaderError
from taskloader.logs import configure_logging
from taskloader.settings import Settings, ignored_env, load_settings

F = TypeVar("F", bound=Callable[..., Any])

SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(Settings)) - {"mapping"}

EXIT_OK, EXIT_ROWS, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_ABORTED = 0, 1, 2, 3, 4

#: botocore's errors of a wrong AWS configuration (Region, profile, config file): exit 2.
AWS_CONFIG_ERRORS = (
    NoRegionError,
    InvalidRegionError,
    ProfileNotFound,
    ConfigNotFound,
    ConfigParseError,
    InvalidConfigError,
)

_AWS_OPTIONS = (
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML settings file (also TASKLOADER_CONFIG).",
    ),
    click.option("--region", default=None, help="AWS Region of the instance."),
    click.option("--profile", default=None, help="AWS profile from the shared config."),
    click.option(
        "--endpoint-url",
        default=None,
        help="Connect endpoint (e.g. the emulator); also AWS_ENDPOINT_URL_CONNECT.",
    ),
    click.option("--instance-id", default=None, help="Amazon Connect instance id or ARN."),
    click.option(
        "--templates",
        "--templates-dir",
        "templates_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Read templates from this directory (written by `templates pull`): offline.",
    ),
    click.option(
        "--template-cache-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Cache template definitions on disk here.",
    ),
    click.option(
        "--template-cache-ttl",
        type=float,
        default=None,
        help="Seconds a cached template definition stays fresh (default 900).",
    ),
    click.option(
        "--connect-timeout",
        type=float,
        default=None,
        help="Seconds to open a connection to AWS (default 5).",
    ),
    click.option(
        "--read-timeout",
        type=float,
        default=None,
        help="Seconds to wait for an AWS response (default 20).",
    ),
    click.option(
        "--log-format",
        type=click.Choice(["auto", "json", "console"]),
        default=None,
        help="Log format (auto: console on a terminal, JSON otherwise).",
    ),
    click.option("--log-level", default=None, help="Log level (debug, info, warning, error)."),
)


def settings_options(func: F) -> F:
    """Add the shared options; the command receives a built ``settings: Settings`` argument.

    Every option of the command named like a setting (``--rate`` -> ``rate``) is taken as that
    setting's flag value (``None`` when not given, so the environment and file still apply).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        config_file = kwargs.pop("config_file")
        flags = {name: kwargs.pop(name) for name in list(kwargs) if name in SETTING_NAMES}
        try:
            settings = load_settings(config_file, flags=flags)
        except TaskloaderError as exc:
            fail(exc)
        configure_logging(settings.log_format, settings.log_level)
        if ignored := ignored_env():
            structlog.get_logger(__name__).debug("settings.env_ignored", variables=ignored)
        return func(*args, settings=settings, **kwargs)

    for option in reversed(_AWS_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


async def ask_yes_no(question: str) -> bool:
    """A y/N question on the terminal. The answer is read on the event loop (standard input
    polled, no thread blocked in a read), so the run's signal handling can cancel it: Ctrl-C at
    the prompt stops the run at once (run.control.RunControl.confirmed)."""
    click.echo(f"{question} [y/N]: ", nl=False, err=True)
    fd = sys.stdin.fileno()
    line = b""
    while not line.endswith(b"\n"):
        await anyio.wait_readable(fd)
        chunk = os.read(fd, 1024)
        if not chunk:  # end of input: no answer is no
            break
        line += chunk
    return line.decode(errors="replace").strip().lower() in ("y", "yes")


def fail(exc: BaseException, code: int | None = None) -> Any:
    click.echo(f"taskloader: error: {exc}", err=True)
    sys.exit(code if code is not None else getattr(exc, "exit_code", EXIT_USAGE))


def run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a command's coroutine, turning known errors into their exit codes."""
    try:
        return anyio.run(main)
    except TaskloaderError as exc:
        return int(fail(exc))
    except AWS_CONFIG_ERRORS as exc:
        return int(fail(exc, EXIT_USAGE))
    except BotoCoreError as exc:
        return int(fail(exc, EXIT_ABORTED))


__all__ = [
    "EXIT_ABORTED",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_ROWS",
    "EXIT_USAGE",
    "Settings",
    "fail",
    "run_async",
    "settings_options",
]
