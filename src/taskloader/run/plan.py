"""The plan a run shows before it sends anything: target, templates, rows, duration, quota.

On a terminal it is printed and the user confirms (unless ``--yes``); off a terminal it is one
``run.plan`` JSON event and the run goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: Amazon Connect's default quota of active tasks per instance (a raised quota is larger).
ACTIVE_TASKS_DEFAULT = 2_500


@dataclass(frozen=True, slots=True)
class RunPlan:
    instance: str
    region: str | None
    endpoint: str | None
    batch_id: str
    ledger: str
    rows: int
    to_send: int
    invalid: int
    done: int  # succeeded or failed in an earlier run (failed: unless --redrive-failed)
    absent: int  # sent earlier, no longer in the input
    rate: float
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.to_send / self.rate if self.rate > 0 else 0.0

    @property
    def over_active_quota(self) -> bool:
        return self.to_send > ACTIVE_TASKS_DEFAULT

    def event(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "region": self.region,
            "batch_id": self.batch_id,
            "ledger": self.ledger,
            "rows": self.rows,
            "to_send": self.to_send,
            "invalid": self.invalid,
            "already_done": self.done,
            "absent_keys": self.absent,
            "templates": sorted(set(self.templates.values())),
            "estimated_s": round(self.seconds, 1),
            "over_active_task_quota": self.over_active_quota,
        }

    def text(self) -> str:
        where = f"{self.instance} in {self.region or 'the default Region'}"
        if self.endpoint:
            where += f" (endpoint {self.endpoint})"
        names = ", ".join(sorted(set(self.templates.values()))) or "none"
        lines = [
            f"target:    {where}",
            f"templates: {names}",
            f"rows:      {self.rows} read; {self.to_send} to send, {self.invalid} invalid, "
            f"{self.done} already done",
            f"duration:  about {_duration(self.seconds)} at {self.rate:g} requests/s",
            f"ledger:    {self.ledger} (batch {self.batch_id})",
        ]
        if self.absent:
            lines.append(
                f"note:      {self.absent} rows sent by an earlier run are no longer in the input"
            )
        if self.over_active_quota:
            lines.append(
                f"warning:   {self.to_send} tasks exceed the default active-task quota of "
                f"{ACTIVE_TASKS_DEFAULT} per instance; the run pauses while the quota is full"
            )
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


#: Shows the plan on a terminal and answers whether to go on (the CLI's prompt, read without a
#: thread: a Ctrl-C while it waits stops the run at once; see run.control.unless_stopped).
Confirm = Callable[[RunPlan], Awaitable[bool]]
