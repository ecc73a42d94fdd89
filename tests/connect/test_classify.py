"""Error classification: every class of StartTaskContact failure maps to what the caller does next.

The exceptions are real botocore / aiohttp objects, built the way botocore builds them from a
response; nothing is mocked.
"""

from __future__ import annotations

import asyncio

import aiohttp
import botocore.exceptions as bce
import pytest

from taskloader.connect.retry import Classification, ErrorKind, classify

R, Q, P, F = ErrorKind.RETRYABLE, ErrorKind.QUOTA_PAUSE, ErrorKind.PERMANENT, ErrorKind.FATAL


def client_error(code: str | None, status: int, message: str = "") -> bce.ClientError:
    error = {"Message": message} if code is None else {"Code": code, "Message": message}
    return bce.ClientError(
        {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        "StartTaskContact",
    )


@pytest.mark.parametrize(
    ("code", "status", "message", "kind", "throttle"),
    [
        # retryable
        ("ThrottlingException", 429, "Rate exceeded", R, True),
        ("TooManyRequestsException", 429, "", R, True),
        ("SomethingNew", 429, "", R, True),
        ("InternalServiceException", 500, "oops", R, False),
        ("ServiceUnavailable", 503, "", R, False),
        ("503", 503, "", R, False),
        ("BadGateway", 502, "", R, False),
        # the active-task quota vs the 12-per-previous-contact rule
        (
            "ServiceQuotaExceededException",
            402,
            "The maximum number of active tasks is reached",
            Q,
            False,
        ),
        ("ServiceQuotaExceededException", 402, "", Q, False),
        (
            "ServiceQuotaExceededException",
            402,
            "12 tasks already reference PreviousContactId c-1",
            P,
            False,
        ),
        (
            "ServiceQuotaExceededException",
            402,
            "Too many linked tasks for previous contact",
            P,
            False,
        ),
        # permanent for the row
        ("InvalidParameterException", 400, "Name too long", P, False),
        ("InvalidRequestException", 400, "Both ContactFlowId and TaskTemplateId", P, False),
        ("ResourceNotFoundException", 404, "Task template t-1 not found", P, False),
        ("ResourceNotFoundException", 404, "TaskTemplate not found in instance i-1", P, False),
        ("ResourceNotFoundException", 404, "Contact flow not found", P, False),
        ("ResourceNotFoundException", 404, "Quick connect q-1 does not exist", P, False),
        ("ConflictException", 409, "", P, False),
        ("PropertyValidationException", 400, "", P, False),
        # fatal for the run
        ("ResourceNotFoundException", 404, "Instance not found", F, False),
        ("ResourceNotFoundException", 404, "Instance 'i-1' was not found.", F, False),
        (
            "ResourceNotFoundException",
            404,
            "Queue 'q-1' was not found in instance 'i-1'.",
            P,
            False,
        ),
        ("ResourceNotFoundException", 404, "InstanceId i-123 does not exist", F, False),
        ("UnrecognizedClientException", 400, "The security token is invalid", F, False),
        ("InvalidClientTokenId", 403, "", F, False),
        ("ExpiredTokenException", 400, "The security token has expired", F, False),
        ("ExpiredToken", 400, "", F, False),
        ("InvalidSignatureException", 403, "", F, False),
        ("SignatureDoesNotMatch", 403, "", F, False),
        (
            "AccessDeniedException",
            403,
            "not authorized to perform connect:StartTaskContact",
            F,
            False,
        ),
        ("MissingAuthenticationTokenException", 403, "", F, False),
        ("SomeOtherAuthThing", 401, "", F, False),
    ],
)
def test_client_errors(
    code: str, status: int, message: str, kind: ErrorKind, throttle: bool
) -> None:
    got = classify(client_error(code, status, message))
    assert got == Classification(kind, code, message, status, throttle)


def test_an_error_without_a_code_is_named_by_its_status() -> None:
    got = classify(client_error(None, 503))
    assert got is not None
    assert (got.kind, got.code, got.http_status) == (R, "503", 503)


URL = "https://connect.eu-west-2.amazonaws.com/contact/task"


@pytest.mark.parametrize(
    "exc",
    [
        bce.EndpointConnectionError(endpoint_url=URL),
        bce.ConnectionClosedError(endpoint_url=URL),
        bce.ReadTimeoutError(endpoint_url=URL),
        bce.ConnectTimeoutError(endpoint_url=URL),
        bce.ResponseStreamingError(error="reset"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientConnectionError("reset by peer"),
        TimeoutError(),  # also asyncio.TimeoutError and anyio.fail_after's
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=type,
)
def test_transport_errors_and_timeouts_are_retryable(exc: Exception) -> None:
    got = classify(exc)
    assert got is not None
    assert got.kind is R
    assert got.code == type(exc).__name__
    assert got.throttle is False
    assert got.message


@pytest.mark.parametrize(
    "exc",
    [
        bce.NoCredentialsError(),
        bce.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
        bce.CredentialRetrievalError(provider="sso", error_msg="expired"),
        bce.UnauthorizedSSOTokenError(),
        bce.NoRegionError(),
    ],
    ids=type,
)
def test_missing_or_broken_credentials_are_fatal(exc: Exception) -> None:
    got = classify(exc)
    assert got is not None
    assert (got.kind, got.code) == (F, type(exc).__name__)


def test_a_request_botocore_refuses_to_build_is_permanent_for_the_row() -> None:
    got = classify(bce.ParamValidationError(report="Invalid length for parameter InstanceId"))
    assert got is not None
    assert (got.kind, got.code) == (P, "ParamValidationError")


@pytest.mark.parametrize(
    "exc", [ValueError("a bug"), KeyError("x"), asyncio.CancelledError()], ids=type
)
def test_anything_else_is_not_an_api_error(exc: BaseException) -> None:
    assert classify(exc) is None
