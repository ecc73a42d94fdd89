"""The wire contract for malformed requests, sent as plain HTTP (no botocore in the way)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pytest
import structlog
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from taskloader.emulator import EmulatorSettings, running_emulator
from taskloader.emulator import server as emulator_server

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDTEST/20250101/us-east-1/connect/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=00"
)


def _credentials() -> Credentials:
    """The tests' credential: the session emulator verifies every signature."""
    return Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])


def send(
    url: str, method: str, path: str, body: bytes | None = None, *, auth: bool = True
) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if auth:  # signed for real, over whatever bytes the body is
        signing = AWSRequest(method=method, url=url + path, data=body or b"", headers=headers)
        SigV4Auth(_credentials(), "connect", "us-east-1").add_auth(signing)
        headers = dict(signing.prepare().headers)
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def signed_send(url: str, method: str, path: str, body: dict[str, Any]) -> int:
    """A request signed for real with SigV4, with the tests' credential."""
    request = AWSRequest(method=method, url=url + path, data=json.dumps(body).encode())
    SigV4Auth(_credentials(), "connect", "us-east-1").add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(
        prepared.url, data=prepared.body, method=method, headers=dict(prepared.headers)
    )
    with urllib.request.urlopen(raw, timeout=10) as resp:
        return int(resp.status)


def assert_error(result: tuple[int, dict[str, str], dict[str, Any]], status: int, code: str) -> str:
    got_status, headers, body = result
    assert got_status == status
    assert headers["x-amzn-ErrorType"] == code
    assert headers["x-amzn-RequestId"]
    assert isinstance(body["Message"], str) and body["Message"]
    assert "Traceback" not in body["Message"]
    return str(body["Message"])


def test_signed_request_is_accepted(emulator: Any) -> None:
    """A genuinely SigV4-signed request gets through."""
    body = {"InstanceId": emulator.instance_id, "Name": "n", "ContactFlowId": emulator.flow_id}
    assert signed_send(emulator.url, "PUT", "/contact/task", body) == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/no/such/thing"), ("DELETE", "/contact/task"), ("PATCH", "/contacts/i/c")],
)
def test_unknown_path_or_method(emulator: Any, method: str, path: str) -> None:
    """No operation at that method and path -> 404 UnknownOperationException."""
    assert_error(send(emulator.url, method, path), 404, "UnknownOperationException")


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"Name": "x"'])
def test_unparsable_json_is_a_serialization_error(emulator: Any, body: bytes) -> None:
    """A body that is not JSON -> 400 SerializationException."""
    result = send(emulator.url, "PUT", "/contact/task", body)
    assert_error(result, 400, "SerializationException")


@pytest.mark.parametrize(
    ("body", "member"),
    [
        ({"Name": 5}, "Name"),
        ({"Name": "n", "References": ["a"]}, "References"),
        ({"Name": "n", "Attributes": {"k": 1}}, "Attributes.k"),
        ({"Name": "n", "ScheduledTime": "tomorrow"}, "ScheduledTime"),
        ([1, 2], None),
    ],
)
def test_wrong_json_types_are_serialization_errors(
    emulator: Any, body: Any, member: str | None
) -> None:
    """A member of the wrong JSON type -> 400 SerializationException naming the member."""
    if isinstance(body, dict):
        body = {"InstanceId": emulator.instance_id, "ContactFlowId": emulator.flow_id, **body}
    result = send(emulator.url, "PUT", "/contact/task", json.dumps(body).encode())
    message = assert_error(result, 400, "SerializationException")
    if member:
        assert f"'{member}'" in message


def test_wrong_query_type_is_a_serialization_error(emulator: Any) -> None:
    """maxResults that is not an integer -> 400 SerializationException."""
    path = f"/instance/{emulator.instance_id}/task/template?maxResults=ten"
    assert_error(send(emulator.url, "GET", path), 400, "SerializationException")


def test_missing_required_member_is_named(emulator: Any) -> None:
    """A missing required member -> 400 InvalidParameterException naming it."""
    body = json.dumps({"InstanceId": emulator.instance_id, "ContactFlowId": emulator.flow_id})
    message = assert_error(
        send(emulator.url, "PUT", "/contact/task", body.encode()), 400, "InvalidParameterException"
    )
    assert "'Name'" in message


def test_missing_authorization_is_403(emulator: Any) -> None:
    """No SigV4 Authorization header -> 403 MissingAuthenticationTokenException."""
    result = send(emulator.url, "GET", f"/contacts/{emulator.instance_id}/c", auth=False)
    assert_error(result, 403, "MissingAuthenticationTokenException")


def test_every_response_carries_a_request_id(emulator: Any) -> None:
    """Successes, errors and /_emulator/ answers all carry x-amzn-RequestId."""
    ok = send(emulator.url, "GET", f"/instance/{emulator.instance_id}/task/template")
    assert ok[0] == 200 and ok[1]["x-amzn-RequestId"]
    assert send(emulator.url, "GET", "/_emulator/stats", auth=False)[1]["x-amzn-RequestId"]
    ids = {send(emulator.url, "GET", "/nope")[1]["x-amzn-RequestId"] for _ in range(3)}
    assert len(ids) == 3


def test_bad_runtime_config_is_refused_and_changes_nothing(emulator: Any) -> None:
    """POST /_emulator/config with a bad value -> 400, and the config stays as it was."""
    before = send(emulator.url, "GET", "/_emulator/config", auth=False)[2]
    body = json.dumps({"faults": {"throttle": 2.0}, "active_task_limit": 3}).encode()
    status, _, answer = send(emulator.url, "POST", "/_emulator/config", body, auth=False)
    assert status == 400 and "probabilit" in answer["Message"]
    assert send(emulator.url, "GET", "/_emulator/config", auth=False)[2] == before


def test_stats_count_requests_per_operation_and_status(emulator: Any) -> None:
    """/_emulator/stats counts requests per operation and status code."""
    send(emulator.url, "GET", f"/instance/{emulator.instance_id}/task/template")
    send(emulator.url, "GET", "/instance/unknown/task/template")
    send(emulator.url, "GET", "/nope")
    requests = emulator.stats()["requests"]
    assert requests["ListTaskTemplates"] == {"200": 1, "404": 1}
    assert requests["UnknownOperation"] == {"404": 1}


async def test_a_bug_becomes_a_logged_internal_service_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception inside an operation -> 500 InternalServiceException, and it is logged."""

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setitem(emulator_server.OPERATIONS, "DescribeContact", broken)
    import aiohttp

    async with running_emulator(EmulatorSettings().without_limits()) as emu:
        with structlog.testing.capture_logs() as logs:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"{emu.url}/contacts/{emu.instance_id}/c", headers={"Authorization": AUTH}
                ) as resp,
            ):
                body = await resp.json()
                assert resp.status == 500
                assert resp.headers["x-amzn-ErrorType"] == "InternalServiceException"
                assert "boom" not in body["Message"]
    [event] = [e for e in logs if e["event"] == "emulator.internal_error"]
    assert event["operation"] == "DescribeContact"
    assert event["log_level"] == "error"
