"""Errors the emulator answers with, rendered the way Connect's REST-JSON protocol does.

An :class:`ApiError` names an error code; its HTTP status comes from the service model (or, for
the few protocol-level errors that the model does not describe, from :data:`PROTOCOL_STATUS`).
"""

from __future__ import annotations

from typing import Any

#: Status of errors that AWS front ends emit but Connect's model does not describe (AWS's common
#: errors: https://docs.aws.amazon.com/connect/latest/APIReference/CommonErrors.html).
PROTOCOL_STATUS: dict[str, int] = {
    "UnknownOperationException": 404,
    "SerializationException": 400,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "ExpiredTokenException": 403,
    "RequestEntityTooLargeException": 413,
    "ServiceUnavailableException": 503,
}


class ApiError(Exception):
    """An error response: ``code`` goes to ``x-amzn-ErrorType``, ``message`` to the body."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        self.code = code
        self.message = message
        self.extra = extra
        super().__init__(f"{code}: {message}")

    def body(self) -> dict[str, Any]:
        return {"Message": self.message, **self.extra}


def not_found(what: str, ident: str, where: str | None = None) -> ApiError:
    suffix = f" in {where}" if where else ""
    return ApiError("ResourceNotFoundException", f"{what} {ident!r} was not found{suffix}.")


def property_error(path: str, reason: str, message: str) -> ApiError:
    """A PropertyValidationException carrying one ``PropertyList`` entry."""
    return ApiError(
        "PropertyValidationException",
        message,
        PropertyList=[{"PropertyPath": path, "Reason": reason, "Message": message}],
    )
