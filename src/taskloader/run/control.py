"""Stopping a run: why it stops, and the signal handling around it.

The first SIGINT or SIGTERM asks the run to stop taking rows and lets in-flight calls finish
within the grace period; a second one cancels everything at once. Either way the ledger stays
resumable: every committed record is durable, and a row whose result was lost is re-sent with
its original ClientToken.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Awaitable, Callable

import anyio
import structlog
from anyio import CancelScope

log = structlog.get_logger(__name__)


class StopReason(enum.Enum):
    SIGNAL = "signal"
    ERROR_BUDGET = "error_budget"
    FATAL = "fatal"
    QUOTA_WAIT = "quota_wait"
    DECLINED = "declined"  # the plan was shown and not confirmed
    INPUT_CHANGED = "input_changed"  # the input changed while the run read or sent it
    OUTPUT = "output"  # the result files could not be written (disk full, permissions)


class RunControl:
    """Shared by every stage of a run: has someone asked it to stop, and why."""

    def __init__(self) -> None:
        self.stopping = anyio.Event()
        self.reason: StopReason | None = None
        self.detail: str | None = None

    def stop(self, reason: StopReason, detail: str | None = None) -> None:
        if self.reason is None:
            self.reason = reason
            self.detail = detail
            log.warning("run.stopping", reason=reason.value, detail=detail)
        self.stopping.set()

    @property
    def stopped(self) -> bool:
        return self.stopping.is_set()

    async def confirmed(self, ask: Callable[[], Awaitable[bool]]) -> bool:
        """``ask``'s answer (a prompt on the terminal), or False as soon as the run is asked
        to stop while it waits: a Ctrl-C at the prompt ends the run, it does not hang on it."""
        answer = False
        async with anyio.create_task_group() as group:

            async def answered() -> None:
                nonlocal answer
                answer = await ask()
                group.cancel_scope.cancel()

            async def stopped() -> None:
                await self.stopping.wait()
                group.cancel_scope.cancel()

            group.start_soon(answered)
            group.start_soon(stopped)
        return answer and not self.stopped


async def watch_signals(control: RunControl, hard_stop: CancelScope) -> None:
    """First signal: graceful stop. Second: cancel ``hard_stop`` at once."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        # Count signals, not stop reasons: a run already stopping for another reason (error
        # budget, quota wait) must still exit at the second Ctrl-C.
        signalled = False
        async for signum in signals:
            if signalled:
                log.warning("run.interrupted", signal=signal.Signals(signum).name)
                hard_stop.cancel()
                return
            signalled = True
            control.stop(StopReason.SIGNAL, signal.Signals(signum).name)
