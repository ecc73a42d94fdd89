"""SigV4 verification in a world that declares credentials, with botocore's own signer.

Errors are AWS's common errors (all 403: https://docs.aws.amazon.com/connect/latest/APIReference/
CommonErrors.html); a request signed for another Region reaches that Region, where the instance
is not found.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from taskloader.emulator import EmulatorSettings, EmulatorThread, load_settings
from taskloader.emulator.world import DEFAULT_FLOWS, AccessKey, Instance, World
from taskloader.errors import UsageError
from tests.conftest import AWS_BIN, NO_RETRIES

ACCOUNT, OTHER_ACCOUNT = "111122223333", "444455556666"
EAST = "aaaaaaaa-1111-4111-8111-000000000001"
WEST = "aaaaaaaa-1111-4111-8111-000000000002"
FOREIGN = "aaaaaaaa-1111-4111-8111-000000000003"
FLOW = sorted(DEFAULT_FLOWS)[0]
GOOD = AccessKey("AKIDGOODGOODGOOD", "good-secret", ACCOUNT)
TEMP = AccessKey("ASIATEMPTEMPTEMP", "temp-secret", ACCOUNT, "live-token", 4_102_444_800.0)
OLD = AccessKey("ASIAOLDOLDOLDOLD", "old-secret", ACCOUNT, "old-token", 1_000_000_000.0)
ROTATED = AccessKey(
    "ASIAROTATEDROTATE", "rotated-secret", ACCOUNT, "rotated-token", 4_102_444_800.0
)


def instance(iid: str, region: str, account: str = ACCOUNT) -> Instance:
    return Instance(
        id=iid,
        arn=f"arn:aws:connect:{region}:{account}:instance/{iid}",
        contact_flows=DEFAULT_FLOWS,
        region=region,
        account_id=account,
    )


def verifying_world() -> World:
    return World(
        region="us-east-1",
        account_id=ACCOUNT,
        instances={
            EAST: instance(EAST, "us-east-1"),
            WEST: instance(WEST, "us-west-2"),
            FOREIGN: instance(FOREIGN, "us-east-1", OTHER_ACCOUNT),
        },
        access_keys={k.access_key_id: k for k in (GOOD, TEMP, OLD, ROTATED)},
    )


@pytest.fixture(scope="module")
def verifying() -> Iterator[EmulatorThread]:
    settings = EmulatorSettings(world=verifying_world()).without_limits()
    with EmulatorThread(settings) as server:
        yield server


def client(
    server: EmulatorThread, key: AccessKey, region: str = "us-east-1", **overrides: Any
) -> Any:
    params = {
        "aws_access_key_id": key.access_key_id,
        "aws_secret_access_key": key.secret_access_key,
        "aws_session_token": key.session_token,
        **overrides,
    }
    return boto3.client(
        "connect", region_name=region, endpoint_url=server.url, config=NO_RETRIES, **params
    )


def start(connect: Any, iid: str = EAST) -> str:
    return str(
        connect.start_task_contact(InstanceId=iid, ContactFlowId=FLOW, Name="t")["ContactId"]
    )


def error_of(connect: Any, iid: str = EAST) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        start(connect, iid)
    r = info.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_good_signatures_pass_on_every_kind_of_request(verifying: EmulatorThread) -> None:
    """Body, path and repeated query members: botocore's signature verifies on each."""
    connect = client(verifying, GOOD)
    cid = start(connect)
    refs = connect.list_contact_references(
        InstanceId=EAST, ContactId=cid, ReferenceTypes=["URL", "NUMBER"]
    )
    assert refs["ReferenceSummaryList"] == []
    assert connect.list_task_templates(InstanceId=EAST, MaxResults=5)["TaskTemplates"] == []
    assert start(client(verifying, TEMP))  # a session token that is still valid


def test_wrong_secret_is_an_invalid_signature(verifying: EmulatorThread) -> None:
    bad = AccessKey(GOOD.access_key_id, "not-the-secret", ACCOUNT)
    code, status, message = error_of(client(verifying, bad))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "signature" in message


def test_unknown_key_and_wrong_session_token_are_unrecognized(verifying: EmulatorThread) -> None:
    unknown = AccessKey("AKIDUNKNOWNUNKNOWN", "x", ACCOUNT)
    assert error_of(client(verifying, unknown))[:2] == ("UnrecognizedClientException", 403)
    forged = AccessKey(TEMP.access_key_id, TEMP.secret_access_key, ACCOUNT, "forged-token")
    assert error_of(client(verifying, forged))[0] == "UnrecognizedClientException"
    tokenless = AccessKey(TEMP.access_key_id, TEMP.secret_access_key, ACCOUNT)
    assert error_of(client(verifying, tokenless))[0] == "UnrecognizedClientException"


def test_expired_session_token(verifying: EmulatorThread) -> None:
    assert error_of(client(verifying, OLD))[:2] == ("ExpiredTokenException", 403)


def test_unsigned_request_is_missing_authentication(verifying: EmulatorThread) -> None:
    connect = boto3.client(
        "connect",
        region_name="us-east-1",
        endpoint_url=verifying.url,
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    assert error_of(connect)[:2] == ("MissingAuthenticationTokenException", 403)


def test_skewed_clock_is_refused(
    verifying: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X-Amz-Date more than 15 minutes off the emulator's clock -> InvalidSignatureException."""
    connect = client(verifying, GOOD)
    start(connect)  # the same client, on time
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    code, status, message = error_of(connect)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "Signature expired" in message


def _signed(url: str, key: AccessKey, region: str, service: str, body: dict[str, Any]) -> int:
    request = AWSRequest(
        method="PUT", url=f"{url}/contact/task", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), service, region).add_auth(
        request
    )
    prepared = request.prepare()
    raw = urllib.request.Request(
        prepared.url, data=prepared.body, method="PUT", headers=dict(prepared.headers)
    )
    try:
        with urllib.request.urlopen(raw, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        assert err.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
        return err.code


def test_scope_for_another_service_is_refused(verifying: EmulatorThread) -> None:
    body = {"InstanceId": EAST, "ContactFlowId": FLOW, "Name": "t", "ClientToken": "c1"}
    assert _signed(verifying.url, GOOD, "us-east-1", "connect", body) == 200
    assert _signed(verifying.url, GOOD, "us-east-1", "s3", body) == 403


def test_instances_belong_to_a_region_and_an_account(verifying: EmulatorThread) -> None:
    """Signed for us-west-2, the us-east-1 instance is not found (and the reverse); another
    account's instance is not found; an ARN must be the instance's own."""
    code, status, message = error_of(client(verifying, GOOD, "us-west-2"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "us-west-2" in message and "instance" in message.lower()
    assert start(client(verifying, GOOD, "us-west-2"), WEST)
    assert error_of(client(verifying, GOOD), WEST)[0] == "ResourceNotFoundException"
    assert error_of(client(verifying, GOOD), FOREIGN)[0] == "ResourceNotFoundException"
    arn = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/{EAST}"
    assert start(client(verifying, GOOD), arn)
    wrong_arn = f"arn:aws:connect:us-east-1:{OTHER_ACCOUNT}:instance/{EAST}"
    assert error_of(client(verifying, GOOD), wrong_arn)[0] == "ResourceNotFoundException"


def aws_cli(server: EmulatorThread, key: AccessKey, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_MAX_ATTEMPTS": "1",
           "AWS_SECRET_ACCESS_KEY": key.secret_access_key, "AWS_PAGER": ""}  # fmt: skip
    if key.session_token:
        env["AWS_SESSION_TOKEN"] = key.session_token
    return subprocess.run(
        [str(AWS_BIN), "connect", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


def test_aws_cli_signs_and_is_verified(verifying: EmulatorThread) -> None:
    ok = aws_cli(verifying, TEMP, "list-task-templates", "--instance-id", EAST)
    assert ok.returncode == 0, ok.stderr
    expired = aws_cli(verifying, OLD, "list-task-templates", "--instance-id", EAST)
    assert expired.returncode != 0
    assert "ExpiredTokenException" in expired.stderr


EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "emulator.example.toml"


def test_the_example_world_file_verifies_its_credentials() -> None:
    """config/emulator.example.toml (shown in docs/emulator.md): a long-term key and a session
    token with an expiry; /_emulator/world lists them without secrets, and the model source."""
    settings = load_settings(EXAMPLE)
    temp = settings.world.access_keys["ASIAIOSFODNN7EXAMPLE"]
    assert temp.expires == dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()
    with EmulatorThread(replace(settings, port=0).without_limits()) as server:
        iid = "11111111-1111-4111-8111-111111111111"
        assert start(client(server, temp), iid)
        west = "66666666-6666-4666-8666-666666666666"
        assert error_of(client(server, temp), west)[0] == "ResourceNotFoundException"
        forged = AccessKey(temp.access_key_id, "wrong", temp.account_id, temp.session_token)
        assert error_of(client(server, forged), iid)[0] == "InvalidSignatureException"
        with urllib.request.urlopen(f"{server.url}/_emulator/world", timeout=10) as resp:
            world = json.loads(resp.read())
    assert world["verify_signatures"] is True
    assert {c["access_key_id"] for c in world["credentials"]} == {
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPLE",
    }
    assert "EXAMPLEKEY" not in json.dumps(world)  # no secret leaves the emulator
    assert "example-session-token" not in json.dumps(world)
    assert world["model"]["botocore"] == botocore.__version__
    assert Path(world["model"]["path"]).exists()


@pytest.mark.parametrize(
    "text",
    [
        "[[world.credentials]]\naccess_key_id = 'A'\n",
        "[[world.credentials]]\naccess_key_id = 'A'\nsecret_access_key = 's'\n"
        "expires = 2030-01-01T00:00:00Z\n",
        "[[world.credentials]]\naccess_key_id = 'A'\nsecret_access_key = 's'\n"
        "session_token = 't'\nexpires = 2030-01-01T00:00:00\n",
        "[world]\nverify_signatures = 'yes'\n",
    ],
    ids=["no-secret", "expiry-without-token", "naive-expiry", "verify-not-bool"],
)
def test_bad_credentials_are_usage_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "world.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"world\.toml"):
        load_settings(path)
