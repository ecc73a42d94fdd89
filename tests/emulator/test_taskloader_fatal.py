"""taskloader's credential paths end to end: `taskloader run` against a verifying emulator.

A wrong Region and an expired session token are among the most common production failures;
both must stop the run at once (exit 4), send nothing more, and say what to check. Temporary
credentials that rotate mid-run through the standard chain (a ``credential_process``) must not
stop it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from taskloader.emulator import EmulatorSettings, EmulatorThread
from taskloader.emulator.world import AccessKey
from tests.conftest import NO_RETRIES
from tests.emulator.test_sigv4 import EAST, FLOW, GOOD, OLD, ROTATED, TEMP, verifying_world

TASKLOADER = Path(sys.executable).parent / "taskloader"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorThread]:
    settings = EmulatorSettings(world=verifying_world()).without_limits()
    with EmulatorThread(settings) as emu:
        yield emu


def admin(server: EmulatorThread, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(
        server.url + path, method=method, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def command(
    server: EmulatorThread, tmp_path: Path, key: AccessKey | None, region: str, rows: int = 5
) -> tuple[list[str], dict[str, str]]:
    """`taskloader run` of ``rows`` simple rows, and its environment (``key``'s credentials)."""
    admin(server, "POST", "/_emulator/reset", {"settings": True})
    data = tmp_path / "rows.csv"
    lines = ["key,name,contact_flow_id", *(f"k{n},Task {n},{FLOW}" for n in range(rows))]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TASKLOADER_"))}
    env.update({
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })  # fmt: skip
    if key is not None:
        env["AWS_ACCESS_KEY_ID"] = key.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = key.secret_access_key
    if key is not None and key.session_token:
        env["AWS_SESSION_TOKEN"] = key.session_token
    args = [str(TASKLOADER), "run", str(data), "--instance-id", EAST, "--region", region,
            "--endpoint-url", server.url, "--ledger", str(tmp_path / "ledger.sqlite"),
            "--concurrency", "1", "--rate", "100", "--log-format", "json"]  # fmt: skip
    return args, env


def run(
    server: EmulatorThread, tmp_path: Path, key: AccessKey, region: str
) -> subprocess.CompletedProcess[str]:
    args, env = command(server, tmp_path, key, region)
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_a_signed_run_succeeds(server: EmulatorThread, tmp_path: Path) -> None:
    done = run(server, tmp_path, TEMP, "us-east-1")
    assert done.returncode == 0, done.stderr
    assert admin(server, "GET", "/_emulator/stats")["contacts_created"] == 5


def test_wrong_region_is_fatal_and_names_the_region(server: EmulatorThread, tmp_path: Path) -> None:
    done = run(server, tmp_path, GOOD, "us-west-2")
    assert done.returncode == 4, done.stderr
    output = done.stdout + done.stderr
    assert "ResourceNotFoundException" in output
    assert "us-west-2" in output  # the message says which Region was asked
    assert "check the Region (--region)" in output
    stats = admin(server, "GET", "/_emulator/stats")
    assert stats["requests"]["StartTaskContact"] == {"404": 1}  # stopped at the first answer
    assert stats["contacts_created"] == 0


def test_expired_token_is_fatal_and_not_retried(server: EmulatorThread, tmp_path: Path) -> None:
    done = run(server, tmp_path, OLD, "us-east-1")
    assert done.returncode == 4, done.stderr
    assert "ExpiredTokenException" in done.stdout + done.stderr
    assert "refresh the credentials" in done.stdout + done.stderr
    stats = admin(server, "GET", "/_emulator/stats")
    assert stats["requests"]["StartTaskContact"] == {"403": 1}
    assert stats["contacts_created"] == 0


#: A credential_process: prints the key named in its state file, expiring in 5 minutes, so
#: botocore (whose mandatory refresh starts 10 minutes before expiry) asks again for every call.
CREDENTIAL_PROCESS = """
import datetime, json, pathlib, sys
key = json.loads(pathlib.Path(sys.argv[1]).read_text())
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
print(json.dumps({"Version": 1, **key, "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
"""


def _hand_out(state: Path, key: AccessKey) -> None:
    fresh = state.with_suffix(".new")
    fresh.write_text(json.dumps({"AccessKeyId": key.access_key_id,
                                 "SecretAccessKey": key.secret_access_key,
                                 "SessionToken": key.session_token}), encoding="utf-8")  # fmt: skip
    os.replace(fresh, state)  # the process never reads half a file


def _wait_for(server: EmulatorThread, proc: subprocess.Popen[str], done: Any) -> None:
    for _ in range(3000):
        if done(admin(server, "GET", "/_emulator/stats")):
            return
        assert proc.poll() is None, "the run ended before the rotation"
        time.sleep(0.01)
    raise AssertionError("the run did not get there")


def test_a_key_rotated_mid_run_keeps_it_going(server: EmulatorThread, tmp_path: Path) -> None:
    """The credential chain hands out a new key mid-run, then the old token expires: every row
    still succeeds, signed by the old key before the rotation and by the new one after."""
    state, script = tmp_path / "key.json", tmp_path / "creds.py"
    script.write_text(CREDENTIAL_PROCESS, encoding="utf-8")
    _hand_out(state, TEMP)
    config = tmp_path / "aws-config"
    config.write_text(
        f'[profile rotating]\ncredential_process = "{sys.executable}" "{script}" "{state}"\n',
        encoding="utf-8",
    )
    args, env = command(server, tmp_path, None, "us-east-1", rows=30)
    env["AWS_CONFIG_FILE"] = str(config)
    log = (tmp_path / "run.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [*args, "--profile", "rotating", "--rate", "20"], env=env, text=True,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(server, proc, lambda s: s["contacts_created"] >= 5)
        _hand_out(state, ROTATED)
        used = "requests_by_access_key"
        _wait_for(server, proc, lambda s: s[used].get(ROTATED.access_key_id, 0) >= 1)
        admin(server, "POST", "/_emulator/expire-credentials",
              {"access_key_ids": [TEMP.access_key_id]})  # fmt: skip
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "run.log").read_text(encoding="utf-8")[-3000:]
    stats = admin(server, "GET", "/_emulator/stats")
    assert stats["contacts_created"] == 30
    assert stats["requests"]["StartTaskContact"] == {"200": 30}
    assert stats[used][TEMP.access_key_id] >= 5
    assert stats[used][ROTATED.access_key_id] >= 1
    old_key = boto3.client(
        "connect", region_name="us-east-1", endpoint_url=server.url, config=NO_RETRIES,
        aws_access_key_id=TEMP.access_key_id, aws_secret_access_key=TEMP.secret_access_key,
        aws_session_token=TEMP.session_token,
    )  # fmt: skip
    with pytest.raises(ClientError, match="ExpiredTokenException"):
        old_key.list_task_templates(InstanceId=EAST)  # the rotation mattered
