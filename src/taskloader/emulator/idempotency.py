"""One ClientToken rule for every operation that takes one.

StartTaskContact, CreateTaskTemplate and TransferContact carry an idempotency ``ClientToken``.
A repeat with the same token and the same parameters answers as the first call did and changes
nothing. The same token with *different* parameters is refused with ``409
IdempotencyException``: Connect's pages do not say what happens then, and AWS's general rule is
to reject such a request as a caller bug rather than answer it silently ("Making retries safe
with idempotent APIs", Amazon Builders' Library; EC2's ``IdempotentParameterMismatch``).
``IdempotencyException`` is the error Connect's model gives TransferContact for this case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from taskloader.emulator.apierror import ApiError


def request_digest(params: Mapping[str, Any]) -> str:
    """A digest of a request's parameters, ClientToken left out (key order does not matter)."""
    rest = {k: v for k, v in params.items() if k != "ClientToken"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def reused_token(operation: str) -> ApiError:
    return ApiError(
        "IdempotencyException",
        f"This ClientToken was already used for a {operation} request with different parameters.",
    )
