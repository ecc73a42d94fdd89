"""taskloader's own retry loop around one StartTaskContact call (botocore's retries are off).

The split of errors by what the caller does next *is* the policy (:func:`classify`):

=============  ==========================================================================
RETRYABLE      throttling (429; also slows the pacer), 500/503 and every 5xx, connection
               errors and timeouts. Backoff, then the same request (same ClientToken) again.
QUOTA_PAUSE    ServiceQuotaExceededException (402) for the active-task quota: pause every
               sender at the :class:`~taskloader.connect.quota_gate.QuotaGate`, one probes.
PERMANENT      for this row only: InvalidParameter, InvalidRequest, ResourceNotFound of the
               template or flow, the 12-per-PreviousContactId quota, any other 4xx, a request
               botocore refuses to build (ParamValidationError).
FATAL          for the whole run: bad, expired or missing credentials, bad signature,
               AccessDenied (and any 401/403), an unknown instance.
=============  ==========================================================================

Unknown instance vs missing template/flow: both come as ResourceNotFoundException. The rule:
the error is FATAL when its message names the instance ("instance", also inside "InstanceId")
and names no other resource (template, flow, quick connect, contact, queue, user, ...):
"Instance 'i-1' was not found." is fatal, "Contact flow 'f' was not found in instance 'i-1'."
is not. Otherwise the row's own reference is what is missing and the error is PERMANENT. A
missing template thus costs one row each; the error budget stops a run in which every row
fails that way.

The 12-per-PreviousContactId rule vs the active-task quota: both are
ServiceQuotaExceededException; the message of the former names the previous contact (or linked
tasks), which makes it PERMANENT; every other one is a QUOTA_PAUSE.

Anything :func:`classify` does not recognise (a bug, a cancellation) is not an API error: it
returns ``None`` and :func:`call_with_retries` lets it propagate.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiohttp
import anyio
import botocore.exceptions as bce
import structlog

from taskloader.connect.pacing import Clock, Pacer, Sleep
from taskloader.connect.quota_gate import QuotaGate, QuotaWaitExpired
from taskloader.errors import FatalApiError

__all__ = [
    "Attempt",
    "Classification",
    "ErrorKind",
    "Outcome",
    "OutcomeKind",
    "RetryPolicy",
    "call_with_retries",
    "classify",
]

T = TypeVar("T")

log = structlog.get_logger(__name__)


class ErrorKind(enum.StrEnum):
    RETRYABLE = "retryable"
    QUOTA_PAUSE = "quota_pause"
    PERMANENT = "permanent"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Classification:
    """What one failed call means: ``kind`` decides; the rest goes to the ledger and the logs."""

    kind: ErrorKind
    code: str
    message: str
    http_status: int | None = None
    throttle: bool = False


# fmt: off
_THROTTLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "RequestLimitExceeded",
    "LimitExceededException", "SlowDown",
})
_TRANSIENT_CODES = frozenset({
    "InternalServiceException", "InternalFailure", "InternalServerError", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
    "PriorRequestNotComplete",
})
_FATAL_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException",
    "ExpiredToken", "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature",
    "InvalidAccessKeyId", "AccessDeniedException", "AccessDenied",
    "MissingAuthenticationTokenException", "MissingAuthenticationToken",
})
# fmt: on
# botocore raises these before anything reaches the wire: the run's configuration is wrong.
_FATAL_BOTOCORE = (
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.UnknownCredentialError,
    bce.NoAuthTokenError,
    bce.TokenRetrievalError,
    bce.SSOError,
    bce.NoRegionError,
)
_TRANSPORT_ERRORS = (
    bce.HTTPClientError,  # ConnectionClosedError, ReadTimeoutError, ResponseStreamingError
    bce.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, SSLError, proxy
    aiohttp.ClientError,
    TimeoutError,  # asyncio.TimeoutError, anyio.fail_after
    ConnectionError,
)

#: A ClientToken sent again with other values (IdempotencyException): the row's failure code.
KEY_REUSED = "key_reused"
_KEY_REUSED = (
    "this row's ClientToken (its batch id and key) was already used with other values: the row "
    "was edited after it was sent and its ledger was lost, or another import shares this batch "
    "id and key. What that first request made stands (a task: change it with `taskloader "
    "contacts update`); to send this row as new, give it another --batch-id. ({})"
)

_INSTANCE = re.compile(r"instance", re.IGNORECASE)
_OTHER_RESOURCE = re.compile(
    r"template|flow|quick\s*connect|contact|queue|user|prompt|snapshot|hours|agent",
    re.IGNORECASE,
)
_PREVIOUS_CONTACT = re.compile(r"previous\s*contact|linked\s+task", re.IGNORECASE)


def classify(exc: BaseException) -> Classification | None:
    """Sort an exception raised by a ``start_task_contact`` call; ``None`` if it is not one."""
    if isinstance(exc, bce.ClientError):
        return _classify_client_error(exc)
    name = type(exc).__name__
    if isinstance(exc, _FATAL_BOTOCORE):
        return Classification(ErrorKind.FATAL, name, str(exc))
    if isinstance(exc, bce.ParamValidationError):
        return Classification(ErrorKind.PERMANENT, name, str(exc))
    if isinstance(exc, _TRANSPORT_ERRORS):
        return Classification(ErrorKind.RETRYABLE, name, str(exc) or name)
    return None


def _classify_client_error(exc: bce.ClientError) -> Classification:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code") or status or "Unknown")
    message = str(error.get("Message") or error.get("message") or "")
    if status is None and code.isdigit():
        status = int(code)  # a bare error status surfaces as the code, e.g. "503"

    def kind(k: ErrorKind, *, throttle: bool = False) -> Classification:
        return Classification(k, code, message, status, throttle)

    if code in _FATAL_CODES or status in (401, 403):
        return kind(ErrorKind.FATAL)
    if (code == "ResourceNotFoundException" or status == 404) and _names_only_instance(message):
        return kind(ErrorKind.FATAL)
    if code in _THROTTLE_CODES or status == 429:
        return kind(ErrorKind.RETRYABLE, throttle=True)
    if code in _TRANSIENT_CODES or (status is not None and status >= 500):
        return kind(ErrorKind.RETRYABLE)
    if code == "IdempotencyException":
        return Classification(ErrorKind.PERMANENT, KEY_REUSED, _KEY_REUSED.format(message), status)
    if code == "ServiceQuotaExceededException" or status == 402:
        if _PREVIOUS_CONTACT.search(message):
            return kind(ErrorKind.PERMANENT)
        return kind(ErrorKind.QUOTA_PAUSE)
    return kind(ErrorKind.PERMANENT)


def _names_only_instance(message: str) -> bool:
    return bool(_INSTANCE.search(message)) and not _OTHER_RESOURCE.search(message)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds and backoff of the retry loop.

    :param max_attempts: most calls per row, not counting those answered with the active-task
        quota (``quota_wait`` bounds those).
    :param base: first backoff ceiling, seconds; ``base=0`` makes tests wait nothing.
    :param cap: the largest backoff ceiling, seconds.
    :param deadline: per-row time budget, seconds, spent in calls and backoff sleeps (time
        waiting for the quota gate or a pacing token is the run's, not the row's).
    :param rng: source of jitter; pass ``random.Random(seed)`` for a reproducible run.
    """

    max_attempts: int = 6
    base: float = 0.5
    cap: float = 20.0
    deadline: float = 120.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    clock: Clock = field(default=anyio.current_time, repr=False, compare=False)
    sleep: Sleep = field(default=anyio.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base < 0 or self.cap < self.base or self.deadline < 0:
            raise ValueError(
                "need max_attempts >= 1, 0 <= base <= cap and deadline >= 0, got "
                f"{self.max_attempts=}, {self.base=}, {self.cap=}, {self.deadline=}"
            )

    def backoff(self, retry: int) -> float:
        """Full-jitter delay before retry number ``retry`` (0 for the first retry)."""
        return self.rng.uniform(0.0, min(self.cap, self.base * 2.0 ** min(retry, 64)))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call made, for the ledger's attempt times and the summary's latency figures."""

    number: int
    sent_at: float
    duration: float
    error: Classification | None


class OutcomeKind(enum.StrEnum):
    SUCCEEDED = "succeeded"  # ``response`` holds the ContactId
    FAILED = "failed"  # a permanent error for this row: ``error``
    EXHAUSTED = "exhausted"  # attempts or the row deadline ran out: ``error`` is the last one
    QUOTA_EXPIRED = "quota_expired"  # the quota gate gave up: leave the row unprocessed


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    kind: OutcomeKind
    attempts: int
    response: T | None = None
    error: Classification | None = None


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    pacer: Pacer,
    gate: QuotaGate,
    on_attempt: Callable[[Attempt], None] | None = None,
    classifier: Callable[[BaseException], Classification | None] | None = None,
) -> Outcome[T]:
    """Call ``fn`` until it succeeds, fails for good, or runs out of attempts or time.

    Each attempt passes the quota gate, takes a pacing token, calls ``fn`` and reports the
    answer to the pacer (throttle or success). ``fn`` must send the same request every time
    (the same ClientToken). A FATAL error raises :class:`~taskloader.errors.FatalApiError`.
    ``classifier`` sorts the errors (default :func:`classify`): an operation may refine it
    (e.g. TransferContact's ServiceQuotaExceededException is the row's 11 transfers, not a
    quota to wait for).
    """
    sort = classifier or classify
    clock = policy.clock
    attempts = 0
    counted = 0  # attempts that count against max_attempts
    busy = 0.0  # seconds spent in calls and backoff sleeps: the row's deadline budget
    last: Classification | None = None
    while True:
        try:
            async with gate.admit() as probing:
                sent_at = await pacer.acquire()
                if not (probing or gate.is_open):
                    continue  # the gate closed while we queued for the token: wait again
                attempts += 1
                started = clock()
                cause: Exception | None = None
                try:
                    response = await fn()
                except Exception as exc:
                    error = sort(exc)
                    if error is None:
                        raise
                    cause = exc
                else:
                    error = None
                duration = clock() - started
                busy += duration
                if on_attempt is not None:
                    on_attempt(Attempt(attempts, sent_at, duration, error))
                if probing and (error is None or error.kind is ErrorKind.PERMANENT):
                    gate.resume()  # the service answered without the quota error
        except QuotaWaitExpired:
            return Outcome(OutcomeKind.QUOTA_EXPIRED, attempts, error=last)

        if error is None:
            pacer.on_success()
            return Outcome(OutcomeKind.SUCCEEDED, attempts, response=response)
        last = error
        if error.kind is ErrorKind.FATAL:
            raise FatalApiError(error.code, error.message) from cause
        if error.kind is ErrorKind.PERMANENT:
            pacer.on_success()  # answered, not throttled
            return Outcome(OutcomeKind.FAILED, attempts, error=error)
        if error.kind is ErrorKind.QUOTA_PAUSE:
            gate.pause(sent_at=sent_at)
            continue

        if error.throttle:
            pacer.on_throttle(sent_at=sent_at)
        counted += 1
        delay = policy.backoff(counted - 1)
        if counted >= policy.max_attempts or busy + delay > policy.deadline:
            log.warning(
                "retry.gave_up",
                attempts=attempts,
                code=error.code,
                reason="attempts" if counted >= policy.max_attempts else "deadline",
            )
            return Outcome(OutcomeKind.EXHAUSTED, attempts, error=error)
        log.info(
            "retry.scheduled",
            attempt=attempts,
            delay=round(delay, 3),
            code=error.code,
            http_status=error.http_status,
            throttle=error.throttle,
        )
        await policy.sleep(delay)
        busy += delay
