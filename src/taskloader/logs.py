"""Logging is configured once, by the CLI. Modules only ask for a logger.

On a terminal the output is human-readable; otherwise (a container, a scheduler) it is one JSON
object per line on stdout, so the platform's log pipeline can parse every event.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


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
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def _tty() -> bool:
    return sys.stderr.isatty()
