"""The local server on a developer's machine: a web page must not drive or read the emulator.

Sent as plain HTTP with the headers a browser would send (see emulator/guard.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.emulator.test_wire import AUTH


def call(
    url: str, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def test_cross_site_text_plain_reset_is_refused(emulator: Any, connect_client: Any) -> None:
    """A form or fetch from another site can send text/plain without a preflight: refused."""
    connect_client.start_task_contact(
        InstanceId=emulator.instance_id, ContactFlowId=emulator.flow_id, Name="kept"
    )
    cross_site = {"Content-Type": "text/plain", "Origin": "https://evil.example"}
    status, _, body = call(emulator.url, "POST", "/_emulator/reset", b"{}", **cross_site)
    assert status == 403 and body["Message"]
    status, _, _ = call(emulator.url, "POST", "/_emulator/reset", b"{}",
                        **{"Content-Type": "text/plain"})  # fmt: skip
    assert status == 415
    status, _, _ = call(emulator.url, "POST", "/_emulator/complete-tasks")
    assert status == 415  # no Content-Type at all (a bodiless no-cors POST)
    assert emulator.stats()["contacts_created"] == 1
    assert [c["Active"] for c in emulator.contacts()] == [True]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "10.0.0.8:1234"])
def test_a_rebound_host_cannot_read_contacts(host: str, emulator: Any) -> None:
    """DNS rebinding: the page's own name arrives in Host; only loopback names are answered."""
    status, _, body = call(emulator.url, "GET", "/_emulator/contacts", Host=host)
    assert status == 403
    assert "Host" in body["Message"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:9", "[::1]:9", "LOCALHOST:1"])
def test_loopback_hosts_and_origins_are_answered(host: str, emulator: Any) -> None:
    status, _, _ = call(emulator.url, "GET", "/_emulator/stats", Host=host)
    assert status == 200
    status, _, _ = call(emulator.url, "POST", "/_emulator/config", b"{}", Host=host,
                        Origin="http://localhost:3000",
                        **{"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert status == 200


def test_malformed_authorization_creates_nothing(emulator: Any) -> None:
    """`Authorization: garbage` is not a SigV4 signature: 403 IncompleteSignatureException."""
    body = json.dumps(
        {"InstanceId": emulator.instance_id, "ContactFlowId": emulator.flow_id, "Name": "n"}
    ).encode()
    status, headers, _ = call(emulator.url, "PUT", "/contact/task", body, Authorization="garbage",
                              **{"Content-Type": "application/json"})  # fmt: skip
    assert (status, headers["x-amzn-ErrorType"]) == (403, "IncompleteSignatureException")
    assert emulator.stats()["contacts_created"] == 0
    status, headers, _ = call(emulator.url, "PUT", "/contact/task", body, Authorization=AUTH,
                              **{"Content-Type": "application/json"})  # fmt: skip
    # Well-formed but not signed with a known key: the tests' emulator verifies signatures.
    assert (status, headers["x-amzn-ErrorType"]) == (403, "UnrecognizedClientException")
    assert emulator.stats()["contacts_created"] == 0


def test_an_oversized_body_is_413_with_an_aws_error(emulator: Any) -> None:
    """5 MiB -> 413 RequestEntityTooLargeException (AWS common errors), not a 500."""
    big = b'{"Name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    status, headers, body = call(emulator.url, "PUT", "/contact/task", big, Authorization=AUTH,
                                 **{"Content-Type": "application/json"})  # fmt: skip
    assert (status, headers["x-amzn-ErrorType"]) == (413, "RequestEntityTooLargeException")
    assert body["Message"] and headers["x-amzn-RequestId"]
    status, _, _ = call(emulator.url, "POST", "/_emulator/config", big,
                        **{"Content-Type": "application/json"})  # fmt: skip
    assert status == 413
    assert emulator.stats()["requests"]["StartTaskContact"] == {"413": 1}
