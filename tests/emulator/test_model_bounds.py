"""Property tests: for every bounded input member of every operation, values just inside the
model's bounds pass validation and values just outside are refused, naming the member.

Bounds are read from botocore's model here too. botocore refuses ``min`` violations before
sending, so requests are serialized with botocore's serializer (no validation), signed with SigV4
and sent as plain HTTP; one test pins botocore's own client-side refusal.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ParamValidationError
from botocore.serialize import create_serializer
from botocore.session import get_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskloader.emulator.model import OPERATIONS
from tests.emulator.test_modelled_errors import minimal_call

MODEL = get_session().get_service_model("connect")
SERIALIZER = create_serializer("rest-json", include_validation=False)
VALIDATION_CODES = {
    "InvalidParameterException",
    "PropertyValidationException",
    "InvalidRequestException",
}


#: A valid element of a list of structures (the lists of strings take "x" or an enum value).
ELEMENTS: dict[str, dict[str, str]] = {
    "TaskAttachment": {"FileName": "claim.pdf", "S3Url": "https://files.example.com/claim.pdf"},
}


@dataclass(frozen=True)
class Bound:
    op: str
    path: tuple[str, ...]  # member names from the input structure down
    kind: str  # "string" | "integer" | "list" | "enum"
    low: int | None
    high: int | None
    enum: tuple[str, ...] = ()
    location: str | None = None
    element: str | None = None  # the shape name of a list's structure elements

    @property
    def member(self) -> str:
        return ".".join(self.path)


def _bounds_of(op: str, shape: Any, prefix: tuple[str, ...], depth: int) -> list[Bound]:
    out: list[Bound] = []
    for name, member in shape.members.items():
        path = (*prefix, name)
        location = member.serialization.get("location")
        meta = member.metadata
        if member.type_name == "structure" and depth == 0:
            out += _bounds_of(op, member, path, 1)
        elif member.type_name == "string" and member.enum:
            out.append(Bound(op, path, "enum", None, None, tuple(member.enum), location))
        elif member.type_name in ("string", "integer", "long") and ("min" in meta or "max" in meta):
            kind = "string" if member.type_name == "string" else "integer"
            low = meta.get("min") if kind == "integer" or meta.get("min") else None
            out.append(Bound(op, path, kind, low, meta.get("max"), (), location))
        elif member.type_name == "list" and "max" in meta:
            item = member.member
            enum = tuple(item.enum) if item.type_name == "string" and item.enum else ()
            element = item.name if item.type_name == "structure" else None
            out.append(
                Bound(op, path, "list", meta.get("min"), meta["max"], enum, location, element)
            )
    return out


BOUNDS = [
    b for op in OPERATIONS for b in _bounds_of(op, MODEL.operation_model(op).input_shape, (), 0)
]


def _value(bound: Bound, inside: bool, data: st.DataObject) -> Any:
    if bound.kind == "enum":
        if inside:
            return data.draw(st.sampled_from(bound.enum))
        return data.draw(st.sampled_from(["", "NOT_A_VALUE", bound.enum[0].lower()]))
    edges: list[int] = []
    if inside:
        low = bound.low or 0
        if bound.kind == "list" and bound.location == "querystring":
            low = max(low, 1)  # an empty list leaves no trace in a query string
        high = bound.high if bound.high is not None else low + 3
        edges = sorted({low, min(low + 1, high), max(high - 1, low), high})
    else:
        if bound.low:
            edges += [bound.low - 1]
        if bound.high is not None:
            edges += [bound.high + 1, bound.high + 2]
    n = data.draw(st.sampled_from(edges))
    if bound.kind == "integer":
        return n
    if bound.kind == "list":
        if bound.element is not None:
            return [dict(ELEMENTS[bound.element]) for _ in range(n)]
        return [bound.enum[0] if bound.enum else "x"] * n
    return "a" * n


def _send(url: str, op: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = SERIALIZER.serialize_to_request(params, MODEL.operation_model(op))
    query = urllib.parse.urlencode(request["query_string"], doseq=True)
    full = url + request["url_path"] + (f"?{query}" if query else "")
    aws = AWSRequest(method=request["method"], url=full, data=request["body"],
                     headers=request["headers"])  # fmt: skip
    # Signed with the tests' credential (the session emulator verifies signatures).
    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    SigV4Auth(Credentials(key, secret), "connect", "us-east-1").add_auth(aws)
    prepared = aws.prepare()
    raw = urllib.request.Request(
        prepared.url, data=prepared.body or None, method=prepared.method,
        headers=dict(prepared.headers),
    )  # fmt: skip
    try:
        with urllib.request.urlopen(raw, timeout=10) as resp:
            return resp.status, {}
    except urllib.error.HTTPError as err:
        body = json.loads(err.read() or b"{}")
        body["__type"] = err.headers["x-amzn-ErrorType"]
        return err.code, body


def _names_member(body: dict[str, Any], bound: Bound) -> bool:
    if body.get("__type") not in VALIDATION_CODES:
        return False
    # A missing flow (REFERENCED_RESOURCE_NOT_FOUND) is not a bounds refusal.
    paths = [
        p.get("PropertyPath", "")
        for p in body.get("PropertyList", ())
        if p.get("Reason") in ("INVALID_FORMAT", "REQUIRED_PROPERTY_MISSING")
    ]
    return f"'{bound.member}" in body.get("Message", "") or any(
        p.startswith(bound.member) for p in paths
    )


@pytest.mark.parametrize("bound", BOUNDS, ids=[f"{b.op}.{b.member}" for b in BOUNDS])
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inside=st.booleans(), data=st.data())
def test_bounds(bound: Bound, inside: bool, data: st.DataObject, emulator: Any) -> None:
    """Inside the bound: not refused for that member. Outside: refused, naming the member."""
    emulator.reset()
    params = minimal_call(bound.op, emulator.instance_id, emulator.flow_id)
    value = _value(bound, inside, data)
    if len(bound.path) == 1:
        params[bound.path[0]] = value
    else:
        params[bound.path[0]] = {bound.path[1]: value}
    status, body = _send(emulator.url, bound.op, params)
    if inside:
        assert not _names_member(body, bound), body
    elif bound.location == "uri" and value == "":
        # An empty path label leaves a path no operation has.
        assert (status, body["__type"]) == (404, "UnknownOperationException")
    else:
        assert status == 400 and _names_member(body, bound), body


def test_bounds_cover_every_operation() -> None:
    """Every one of the ten operations has bounded members under test."""
    assert {b.op for b in BOUNDS} == set(OPERATIONS)


def test_botocore_refuses_min_violations_before_sending(connect_client: Any, emulator: Any) -> None:
    """Client side, botocore checks `min` (not `max`): nothing reaches the emulator."""
    with pytest.raises(ParamValidationError):
        connect_client.list_task_templates(InstanceId=emulator.instance_id, MaxResults=0)
    with pytest.raises(ParamValidationError):
        connect_client.get_task_template(InstanceId="", TaskTemplateId="t")
    assert emulator.stats()["requests"] == {}
