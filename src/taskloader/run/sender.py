"""The senders: each takes validated rows off a stream and makes one call of the run's
operation per row (StartTaskContact for `run`; see :mod:`taskloader.run.operation`).

Every StartTaskContact (and TransferContact) carries a ClientToken derived from the batch id
and the row key, so the same row gets the same token on every retry, after a crash, on resume,
and when the same file is run again with the same batch id. Amazon Connect returns the original
ContactId for a repeated token instead of creating a second task (or transfer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import (
    KEY_REUSED,
    Attempt,
    ErrorKind,
    OutcomeKind,
    RetryPolicy,
    call_with_retries,
)
from taskloader.errors import FatalApiError, LedgerError
from taskloader.ledger.store import RowOutcome, RowStatus
from taskloader.run.control import RunControl, StopReason
from taskloader.run.operation import START_TASK, Operation
from taskloader.run.progress import RunStats

log = structlog.get_logger(__name__)


def client_token(batch_id: str, key: str) -> str:
    """The row's idempotency token: 64 hex characters (the API allows up to 500)."""
    return hashlib.sha256(f"taskloader\x00{batch_id}\x00{key}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Work:
    """One valid row on its way to the API (``token``: None for an operation without one)."""

    number: int
    line: int
    key: str
    token: str | None
    params: dict[str, Any]
    raw: dict[str, Any]
    ident: str | None = None
    #: an earlier run was sending it when it ended (ledger.records.ToSend.in_doubt)
    in_doubt: bool = False

    def outcome(self, status: RowStatus, **fields: Any) -> RowOutcome:
        return RowOutcome(
            self.number,
            self.line,
            self.key,
            self.token,
            status,
            raw=self.raw,
            ident=self.ident,
            **fields,
        )


#: The message of a row with attachments whose ClientToken Connect had already seen.
ALREADY_MADE = (
    "already made: a request with this row's ClientToken was made before (an earlier run or "
    "result file of this batch) and Connect refused it again only because the attachment URLs "
    "are presigned anew for each send; the task exists, its contact id is not known here"
)


class _Stopped(Exception):
    """Raised instead of sending once the run is stopping (not an API error: not retried)."""


@dataclass
class Sending:
    """What every sender of a run shares."""

    client: Any
    instance_id: str
    pacer: Pacer
    gate: QuotaGate
    policy: RetryPolicy
    control: RunControl
    stats: RunStats
    #: the request as sent: each ``s3://`` attachment presigned (run.attachments) at the row's
    #: first attempt; its retries resend those URLs (the same request for its ClientToken) until
    #: they are ``presign_fresh_s`` old, then they are signed again
    presign: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    presign_fresh_s: float = 1800.0
    #: the API each row calls, and how its errors are sorted
    operation: Operation = START_TASK
    #: called with a row's identity before its first attempt, for an operation without a
    #: ClientToken (the ledger's in-doubt mark: see Operation.settled_by)
    mark: Callable[[str], Awaitable[None]] | None = None


async def sender(
    ctx: Sending,
    work: ObjectReceiveStream[Work],
    outcomes: ObjectSendStream[RowOutcome],
) -> None:
    """Send rows until the stream ends; every row taken leaves as exactly one outcome.

    When the run's grace period runs out the senders are cancelled: a row cancelled mid-call
    is recorded ``unprocessed`` (its task may or may not exist; re-sending it with the same
    ClientToken on resume settles which).
    """
    async with work, outcomes:
        async for item in work:
            if ctx.control.stopped:
                await outcomes.send(item.outcome(RowStatus.UNPROCESSED))
                continue
            result: RowOutcome | None = None
            try:
                result = await _send_one(ctx, item)
            finally:
                if result is None:  # cancelled mid-call: unknown, so re-send on resume
                    result = item.outcome(RowStatus.UNPROCESSED)
                # On a hard stop the ledger writer is gone: the row is not terminal in the
                # ledger, so resume re-sends it with the same ClientToken.
                with (
                    anyio.CancelScope(shield=True),
                    suppress(anyio.BrokenResourceError, anyio.ClosedResourceError),
                ):
                    await outcomes.send(result)


async def _send_one(ctx: Sending, item: Work) -> RowOutcome:
    op = ctx.operation
    params: dict[str, Any] = {"InstanceId": ctx.instance_id}
    if op.client_token and item.token is not None:
        params["ClientToken"] = item.token
    params.update(item.params)
    times: list[datetime] = []
    unclear = [item.in_doubt]  # an attempt whose answer was lost may have been carried out
    signed: list[tuple[float, dict[str, Any]]] = []  # (when, the request with presigned URLs)

    async def call() -> Any:
        if ctx.control.stopped:
            raise _Stopped
        if ctx.mark is not None and not times and item.ident is not None:
            try:
                await ctx.mark(item.ident)
            except LedgerError as exc:  # not sent: the run stops resumably, as on any write
                ctx.control.stop(StopReason.OUTPUT, str(exc))
                raise _Stopped from None
        if ctx.presign is not None and "Attachments" in params:
            now = anyio.current_time()
            if not signed or now - signed[0][0] > ctx.presign_fresh_s:
                signed[:] = [(now, await ctx.presign(params))]
            return await op.call(ctx.client, signed[0][1])
        return await op.call(ctx.client, params)

    def on_attempt(attempt: Attempt) -> None:
        times.append(datetime.now(UTC))
        ctx.stats.requests += 1
        ctx.stats.rate = ctx.pacer.rate
        if attempt.number > 1:
            ctx.stats.retries += 1
        if attempt.error is None:
            ctx.stats.add_latency(attempt.duration)
        elif attempt.error.throttle:
            ctx.stats.throttles += 1
        elif attempt.error.kind is ErrorKind.RETRYABLE:
            unclear.append(True)  # a 5xx or a lost connection: maybe carried out

    def done(status: RowStatus, **fields: Any) -> RowOutcome:
        return item.outcome(
            status,
            attempts=len(times),
            first_attempt_at=times[0] if times else None,
            last_attempt_at=times[-1] if times else None,
            **fields,
        )

    try:
        outcome = await call_with_retries(
            call,
            policy=ctx.policy,
            pacer=ctx.pacer,
            gate=ctx.gate,
            on_attempt=on_attempt,
            classifier=op.classify,
        )
    except _Stopped:
        return done(RowStatus.UNPROCESSED)
    except FatalApiError as exc:
        ctx.control.stop(StopReason.FATAL, str(exc))
        return done(RowStatus.UNPROCESSED, error_code=exc.code, error_message=exc.reason)
    if outcome.kind is OutcomeKind.SUCCEEDED:
        assert outcome.response is not None
        status, fields = op.judge(outcome.response, item.key)
        return done(status, **fields)
    if outcome.kind is OutcomeKind.QUOTA_EXPIRED:
        ctx.control.stop(StopReason.QUOTA_WAIT, "the active-task quota did not drain in time")
        return done(RowStatus.UNPROCESSED)
    error = outcome.error
    assert error is not None
    if error.code == KEY_REUSED and signed:
        # The token was used before with other values: the presigned attachment URLs, signed
        # anew for this send (a resumed run, a result file of this batch, a lost ledger). The
        # task that first request made stands; Connect does not say its id.
        return done(RowStatus.SUCCEEDED, error_message=ALREADY_MADE)
    if any(unclear) and error.code in op.settled_by:
        # The row's goal holds (the contact has ended) and an earlier attempt of this batch,
        # whose answer was lost, may be what did it: the row is done, and says so.
        text = f"{error.message}; an earlier attempt whose answer was lost did it, or it ended"
        return done(RowStatus.SUCCEEDED, contact_id=item.key, error_message=f"already: {text}")
    message = error.message
    if outcome.kind is OutcomeKind.EXHAUSTED:
        message = f"gave up after {outcome.attempts} attempts: {message}"
    return done(
        RowStatus.FAILED,
        error_code=error.code,
        error_message=message,
        contact_id=op.contact_of(item.key),
    )
