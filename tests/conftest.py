"""Shared fixtures: an isolated AWS environment and a real emulator over HTTP.

- ``aws_env`` (autouse): dummy credentials, us-east-1, no config/credentials files, no profile,
  no AWS_ENDPOINT_URL*, no TASKLOADER_* variables.
- ``emulator_server`` (session): one emulator in a background thread for the whole run,
  quotas and the active-task limit off, fault seed 1234.
- ``emulator``: that emulator reset (contacts, templates, counters, start-up settings) for this
  test; an :class:`EmulatorHandle` with ``url``, ``instance_id``, ``flow_id``, ``stats()``,
  ``contacts()``, ``world()``, ``configure(**json)``, ``complete_tasks()``, ``reset()``.
- ``connect_client``: a boto3 Connect client bound to ``emulator`` (botocore retries off).
- ``aio_connect_client``: the same with aiobotocore, for async tests.
- ``aws_cli``: runs ``.venv/bin/aws connect <args> --endpoint-url <emulator>``, returns JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import hypothesis
import pytest
import structlog
from botocore.config import Config

from taskloader.emulator import EmulatorSettings, EmulatorThread
from taskloader.emulator.world import DEFAULT_FLOWS, AccessKey, default_world

REGION = "us-east-1"
#: botocore retries off, so a test sees each error exactly as the emulator sent it.
NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
AWS_BIN = Path(sys.executable).parent / "aws"


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults: a CLI test's log level must not leak."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Isolate every test from the developer's AWS and taskloader environment."""
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "TASKLOADER_")) or name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class EmulatorHandle:
    """Synchronous helpers around a running emulator's /_emulator/ endpoints."""

    def __init__(self, url: str, instance_id: str) -> None:
        self.url = url
        self.instance_id = instance_id
        self.flow_id = sorted(DEFAULT_FLOWS)[0]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/stats")  # type: ignore[no-any-return]

    def contacts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_emulator/contacts")  # type: ignore[no-any-return]

    def world(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/world")  # type: ignore[no-any-return]

    def configure(self, **config: Any) -> dict[str, Any]:
        return self._call("POST", "/_emulator/config", config)  # type: ignore[no-any-return]

    def delete_contact(self, contact_id: str) -> None:
        self._call("POST", "/_emulator/delete-contact", {"contact_id": contact_id})

    def complete_tasks(self) -> int:
        return int(self._call("POST", "/_emulator/complete-tasks", {})["completed"])

    def reset(self, settings: bool = True) -> None:
        self._call("POST", "/_emulator/reset", {"settings": settings})


#: The tests' credential (set by ``aws_env``); the session emulator verifies its signatures.
TEST_KEY = AccessKey("AKIDTESTTESTTEST", "test-secret-key")


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorThread]:
    """One emulator for the whole session (quotas and active-task limit off, seed 1234). It
    verifies every request's SigV4 signature against the tests' credential, as Amazon Connect
    would: a request signed wrongly, for another Region or with other keys is refused."""
    world = replace(default_world(), access_keys={TEST_KEY.access_key_id: TEST_KEY})
    settings = EmulatorSettings(seed=1234, world=world).without_limits()
    with EmulatorThread(settings) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorThread) -> EmulatorHandle:
    """The session emulator, reset to an empty state and its start-up settings."""
    handle = EmulatorHandle(emulator_server.url, emulator_server.instance_id)
    handle.reset()
    return handle


@pytest.fixture
def connect_client(emulator: EmulatorHandle) -> Any:
    """A boto3 Connect client bound to the emulator (botocore retries off)."""
    return boto3.client("connect", region_name=REGION, endpoint_url=emulator.url, config=NO_RETRIES)


@pytest.fixture
async def aio_connect_client(emulator: EmulatorHandle) -> AsyncIterator[Any]:
    """An aiobotocore Connect client bound to the emulator (botocore retries off)."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession

    config = AioConfig(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
    async with AioSession().create_client(
        "connect", region_name=REGION, endpoint_url=emulator.url, config=config
    ) as client:
        yield client


class AwsCliError(Exception):
    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"aws exited {returncode}: {stderr.strip()}")


@pytest.fixture
def aws_cli(emulator: EmulatorHandle) -> Any:
    """Run ``aws connect <args>`` against the emulator; JSON output, AwsCliError on failure."""

    def run(*args: str) -> Any:
        proc = subprocess.run(
            [str(AWS_BIN), "connect", *args, "--endpoint-url", emulator.url, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""},
            check=False,
        )
        if proc.returncode != 0:
            raise AwsCliError(proc.returncode, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    return run


# A loaded CI machine must not turn slow example generation into failures. The suite draws the
# same examples on every run (a failure reproduces, and a landing does not depend on luck);
# TASKLOADER_HYPOTHESIS=explore draws new random ones, ten times as many, to look for bugs.
hypothesis.settings.register_profile(
    "taskloader",
    deadline=None,
    derandomize=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.register_profile(
    "explore",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile(os.environ.get("TASKLOADER_HYPOTHESIS", "taskloader"))
