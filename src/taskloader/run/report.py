"""What a run reports: its exit code, the report it returns, and its result files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from taskloader.ledger.results import ResultFiles, write_results
from taskloader.ledger.store import Ledger
from taskloader.run.control import RunControl, StopReason
from taskloader.run.workspace import Workspace


@dataclass(frozen=True, slots=True)
class RunReport:
    exit_code: int
    counts: dict[str, int]
    stats: dict[str, Any]
    ledger: str  # a local path, or the s3:// URL of the uploaded ledger
    out_dir: str
    batch_id: str
    results: ResultFiles | None
    stop_reason: str | None
    stop_detail: str | None = None
    sent: int = 0  # rows this run sent (succeeded or failed)
    #: Rows read by the pre-flight pass when it was stopped before the input's end (else None).
    read_only_to: int | None = None
    #: Rows sent by an earlier run whose key is no longer in the input (an edited file).
    absent: int = 0


def exit_code_for(counts: dict[str, int], reason: StopReason | None) -> int:
    open_rows = counts.get("pending", 0) + counts.get("unprocessed", 0)
    if reason in (StopReason.ERROR_BUDGET, StopReason.FATAL):
        return 4
    if open_rows or reason in (StopReason.INPUT_CHANGED, StopReason.OUTPUT):
        return 3
    if counts.get("failed", 0) or counts.get("invalid", 0):
        return 1
    return 0


#: At a stop by signal, rows left beyond this many are counted, not listed in unprocessed.csv.
LIST_LEFT_AT_STOP = 50_000


async def write_run_results(
    ledger: Ledger,
    workspace: Workspace,
    snapshot: dict[str, Any],
    control: RunControl,
    counts: dict[str, int],
) -> ResultFiles | None:
    """The result files; a disk that fills or turns read-only now is a clear, resumable stop."""
    out_dir = workspace.results_dir
    # A run stopped by a signal must exit within its grace period: a million rows never reached
    # are counted (summary.json), not listed row by row.
    left = sum(n for s, n in counts.items() if s in ("pending", "unprocessed"))
    list_left = control.reason is not StopReason.SIGNAL or left <= LIST_LEFT_AT_STOP
    try:
        return await anyio.to_thread.run_sync(
            lambda: write_results(ledger, out_dir, stats=snapshot, list_left=list_left)
        )
    except OSError as exc:
        control.stop(
            StopReason.OUTPUT,
            f"cannot write the result files to {out_dir}: {exc.strerror or exc}; the ledger "
            "holds every outcome: free space or fix permissions, then run again to write them",
        )
        return None
