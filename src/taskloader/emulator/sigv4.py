"""Who sent a request: the SigV4 ``Authorization`` header, parsed and (optionally) verified.

Every request needs a well-formed ``AWS4-HMAC-SHA256`` header (``Credential=``,
``SignedHeaders=``, ``Signature=``), else ``IncompleteSignatureException``. When the world
declares credentials, the emulator also verifies the signature the way AWS does, answering with
AWS's common errors (all 403; https://docs.aws.amazon.com/connect/latest/APIReference/CommonErrors.html):

- an unknown access key, or a session token that is missing or not the key's:
  ``UnrecognizedClientException``;
- the key's session token has expired: ``ExpiredTokenException``;
- a credential scope for another service, a scope date that is not the request's, an
  ``X-Amz-Date`` more than 15 minutes from the emulator's clock, or a signature that does not
  match: ``InvalidSignatureException``.

The signature is recomputed with botocore's own signer (``botocore.auth.SigV4Auth``, over the
headers the client listed in ``SignedHeaders``) and compared in constant time. The scope's
Region is the Region the request was sent to: instances of other Regions are not found there.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from taskloader.emulator.apierror import ApiError
from taskloader.emulator.world import AccessKey, World

SERVICE = "connect"
MAX_SKEW_S = 15 * 60
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]+)\s*\Z"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified (or, without verification, claimed) sender of a request."""

    access_key: str
    region: str
    account_id: str | None  # None: the world verifies nothing, any account goes


#: The caller of the request being handled (each aiohttp request runs in its own task).
CALLER: ContextVar[Caller | None] = ContextVar("emulator_caller", default=None)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the verifier needs of an HTTP request (the transport stays in server.py)."""

    method: str
    raw_path: str  # path and query string exactly as sent
    headers: Any  # a case-insensitive multi-dict (aiohttp's CIMultiDictProxy)
    body: bytes


def _incomplete(why: str) -> ApiError:
    return ApiError("IncompleteSignatureException", f"Authorization header {why}.")


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidSignatureException", message)


def identify(
    world: World, request: SignedRequest, now: float, expired: frozenset[str] = frozenset()
) -> Caller:
    """The caller of ``request``; raises the ApiError AWS would answer with.

    ``expired``: access keys whose session tokens were expired at runtime
    (``POST /_emulator/expire-credentials``)."""
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH.match(header.strip())
    if match is None:
        raise _incomplete("is not a well-formed AWS4-HMAC-SHA256 signature")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise _incomplete("has a malformed Credential scope")
    access_key, scope_date, region, service, _ = parts
    if not world.verify_signatures:
        return Caller(access_key, region, None)
    key = world.access_keys.get(access_key)
    if key is None:
        raise ApiError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    _check_token(
        key, request.headers.get("X-Amz-Security-Token"), now, key.access_key_id in expired
    )
    if service != SERVICE:
        raise _invalid(f"Credential should be scoped to correct service: '{SERVICE}'.")
    amz_date = request.headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise _incomplete("needs an X-Amz-Date header (YYYYMMDDTHHMMSSZ)") from None
    if scope_date != amz_date[:8]:
        raise _invalid("Date in Credential scope does not match YYYYMMDD from X-Amz-Date.")
    if abs(now - signed_at) > MAX_SKEW_S:
        stamp = datetime.fromtimestamp(now, UTC).strftime(_AMZ_DATE)
        raise _invalid(
            f"Signature expired: {amz_date} is more than 15 minutes from the server's time "
            f"{stamp}. Check your computer's clock."
        )
    expected = _signature(key, region, service, match["signed"].split(";"), amz_date, request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise _invalid(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return Caller(access_key, region, key.account_id)


def _check_token(key: AccessKey, sent: str | None, now: float, expired: bool) -> None:
    if (key.session_token is None) != (sent is None) or (
        key.session_token is not None
        and sent is not None
        and not hmac.compare_digest(key.session_token.encode(), sent.encode())
    ):
        raise ApiError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if expired or (key.expires is not None and now >= key.expires):
        raise ApiError(
            "ExpiredTokenException", "The security token included in the request is expired"
        )


class _Recomputer(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 signer, restricted to the headers the client said it signed."""

    def __init__(self, credentials: Credentials, region: str, service: str, signed: list[str]):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or ():
                chosen[name] = value
        return chosen


def _signature(
    key: AccessKey,
    region: str,
    service: str,
    signed: list[str],
    amz_date: str,
    request: SignedRequest,
) -> str:
    names = [n.strip().lower() for n in signed]
    missing = [n for n in names if n not in request.headers]
    if "host" not in names or missing:
        raise _invalid(
            "The request signature does not cover the Host header and every header listed."
        )
    headers = HTTPHeaders()
    for name in names:
        for value in request.headers.getall(name):
            headers[name] = value
    sent_hash = request.headers.get("X-Amz-Content-SHA256")
    if sent_hash is not None and sent_hash != hashlib.sha256(request.body).hexdigest():
        raise _invalid("The provided X-Amz-Content-SHA256 does not match the request body.")
    host = request.headers.get("Host", "")
    aws_request = AWSRequest(
        method=request.method, url=f"http://{host}{request.raw_path}", data=request.body
    )
    aws_request.headers = headers
    aws_request.context["timestamp"] = amz_date
    signer = _Recomputer(
        Credentials(key.access_key_id, key.secret_access_key, key.session_token),
        region,
        service,
        names,
    )
    canonical = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))
