"""Where a run stands: counters, latency percentiles, and how they are shown.

On a terminal a rich progress bar; otherwise a structured ``run.progress`` event every
``interval`` seconds, so a scheduler's log pipeline sees the run move.
"""

from __future__ import annotations

import bisect
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from taskloader.logs import console

log = structlog.get_logger(__name__)


@dataclass
class RunStats:
    """Counters of one run (this process only; the ledger holds the totals across resumes)."""

    total: int | None = None
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    invalid: int = 0
    unprocessed: int = 0
    requests: int = 0
    throttles: int = 0
    retries: int = 0
    rate: float = 0.0
    started: float = field(default_factory=time.monotonic)
    _latencies: list[float] = field(default_factory=list, repr=False)
    _latency_count: int = 0

    @property
    def done(self) -> int:
        return self.skipped + self.succeeded + self.failed + self.invalid + self.unprocessed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def add_latency(self, seconds: float) -> None:
        # A bounded sample: every k-th value once the list is large keeps memory flat.
        self._latency_count += 1
        if len(self._latencies) < 20_000 or self._latency_count % 50 == 0:
            bisect.insort(self._latencies, seconds)

    def percentile(self, p: float) -> float | None:
        if not self._latencies:
            return None
        index = min(len(self._latencies) - 1, round(p / 100 * (len(self._latencies) - 1)))
        return self._latencies[index]

    def eta(self) -> float | None:
        """Seconds left at the pace of this run so far; None while that cannot be told."""
        worked = self.done - self.skipped
        if self.total is None or worked <= 0:
            return None
        return max(self.total - self.done, 0) * self.elapsed / worked

    def snapshot(self) -> dict[str, Any]:
        elapsed = self.elapsed
        sent = self.succeeded + self.failed
        return {
            "total": self.total,
            "done": self.done,
            "eta_s": _round(self.eta()),
            "skipped": self.skipped,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "invalid": self.invalid,
            "unprocessed": self.unprocessed,
            "requests": self.requests,
            "throttles": self.throttles,
            "retries": self.retries,
            "pacing_rate": round(self.rate, 3),
            "elapsed_s": round(elapsed, 3),
            "achieved_rate": round(sent / elapsed, 3) if elapsed > 0 else 0.0,
            "latency_p50_s": _round(self.percentile(50)),
            "latency_p99_s": _round(self.percentile(99)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


async def report_progress(stats: RunStats, *, interval: float, tty: bool | None = None) -> None:
    """Show progress until cancelled (the run's task group cancels it at the end)."""
    if tty is None:
        tty = sys.stderr.isatty()
    if not tty:
        while True:
            await anyio.sleep(interval)
            log.info("run.progress", **stats.snapshot())
    progress = Progress(
        TextColumn("[bold]import"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "ok {task.fields[ok]}  failed {task.fields[failed]}  invalid {task.fields[bad]}"
        ),
        TextColumn("{task.fields[rate]:.2f}/s  throttles {task.fields[throttles]}"),
        TimeRemainingColumn(),
        console=console(),  # the console log lines use: they are printed above the bar
        transient=False,
    )
    with progress:
        task = progress.add_task(
            "import", total=stats.total, ok=0, failed=0, bad=0, rate=0.0, throttles=0
        )

        def show() -> None:
            progress.update(
                task,
                total=stats.total,
                completed=stats.done,
                ok=stats.succeeded,
                failed=stats.failed,
                bad=stats.invalid,
                rate=stats.rate,
                throttles=stats.throttles,
            )

        try:
            while True:
                show()
                await anyio.sleep(0.25)
        finally:
            show()
