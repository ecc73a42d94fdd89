"""Logging is configured once, by the CLI. Modules only ask for a logger.

On a terminal the output is human-readable; otherwise (a container, a scheduler) it is one JSON
object per line on stdout, so the platform's log pipeline can parse every event.

Human-readable lines on standard error go through :func:`console`, the rich console the live
progress bar draws on, so a line logged while the bar is shown is printed above it instead of
into the bar's line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from rich.console import Console
from rich.text import Text

_console: Console | None = None


def console() -> Console:
    """The one rich console on standard error that log lines and progress displays share."""
    global _console  # one console per process, made on first use
    if _console is None:
        _console = Console(stderr=True)
    return _console


class ConsoleLogger:
    """A structlog logger printing each rendered line through :func:`console` (ANSI colours
    kept, no rich markup or highlighting applied to the text)."""

    def msg(self, message: str) -> None:
        console().print(Text.from_ansi(message), soft_wrap=True, highlight=False)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


#: Events a person on a terminal reads in another form: `run` prints its own short summary.
_SHOWN_OTHERWISE = frozenset({"run.summary"})


def _drop_shown_otherwise(_logger: Any, _method: str, event: Any) -> Any:
    if event.get("event") in _SHOWN_OTHERWISE:
        raise structlog.DropEvent
    return event


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    out = stream or (sys.stderr if (fmt == "console" or _tty()) and fmt != "json" else sys.stdout)
    use_json = fmt == "json" or (fmt == "auto" and not _tty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if use_json:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors.insert(0, _drop_shown_otherwise)
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=(
            (lambda *_: ConsoleLogger())
            if not use_json and out is sys.stderr
            else structlog.PrintLoggerFactory(out)
        ),
        cache_logger_on_first_use=False,
    )


def _tty() -> bool:
    return sys.stderr.isatty()
