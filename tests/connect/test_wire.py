"""The retry loop against real wire errors: a scripted aiohttp server on 127.0.0.1, port 0,
and a real aiobotocore Connect client with botocore's retries off (``total_max_attempts=1``).

Each script is the list of HTTP answers the server gives, in order. The server counts the
requests it receives, so a test also proves botocore did not retry on its own: every request
the server saw is an attempt taskloader made and counted. Credentials are the dummy ones from
the autouse ``aws_env`` fixture.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web

from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import Attempt, OutcomeKind, RetryPolicy, call_with_retries
from taskloader.errors import FatalApiError


@dataclass
class Answer:
    status: int
    error_type: str | None = None  # x-amzn-ErrorType
    message: str = ""
    delay: float = 0.0

    def response(self) -> web.Response:
        if self.status == 200:
            return web.json_response({"ContactId": "c-1", "ContactArn": "arn:c-1"})
        headers = {"x-amzn-RequestId": "req-1"}
        if self.error_type is None:  # a bare status from a proxy or load balancer
            return web.Response(status=self.status, text="", headers=headers)
        headers["x-amzn-ErrorType"] = self.error_type
        body = json.dumps({"Message": self.message})
        return web.Response(
            status=self.status, text=body, headers=headers, content_type="application/json"
        )


@dataclass
class Script:
    answers: list[Answer]
    tokens: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.tokens.append(body.get("ClientToken", ""))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer.delay:
            await anyio.sleep(answer.delay)
        return answer.response()


@asynccontextmanager
async def serve(script: Script) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_put("/contact/task", script.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def connect_client(url: str) -> AsyncIterator[Any]:
    config = AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=1,
        read_timeout=0.3,
    )
    async with get_session().create_client(
        "connect", region_name="us-east-1", endpoint_url=url, config=config
    ) as client:
        yield client


class Run:
    """The components a sender gets from the pipeline, fast settings, no waiting."""

    def __init__(self) -> None:
        self.pacer = Pacer(1000.0, 10)
        self.gate = QuotaGate(quota_wait=5.0, probe_base=0.0, probe_cap=0.0)
        self.policy = RetryPolicy(max_attempts=3, base=0.0, cap=0.0, rng=random.Random(1))
        self.attempts: list[Attempt] = []

    async def send(self, client: Any) -> Any:
        def start() -> Any:
            return client.start_task_contact(
                InstanceId="i-1", Name="task", ContactFlowId="flow-1", ClientToken="batch1-row7"
            )

        return await call_with_retries(
            start,
            policy=self.policy,
            pacer=self.pacer,
            gate=self.gate,
            on_attempt=self.attempts.append,
        )

    def codes(self) -> list[str | None]:
        return [a.error.code if a.error else None for a in self.attempts]


async def run_script(answers: list[Answer]) -> tuple[Run, Script, Any]:
    script = Script(answers)
    run = Run()
    async with serve(script) as url, connect_client(url) as client:
        outcome = await run.send(client)
    return run, script, outcome


async def test_a_429_is_retried_with_the_same_token_and_slows_the_pacer() -> None:
    run, script, outcome = await run_script(
        [Answer(429, "ThrottlingException", "Rate exceeded"), Answer(200)]
    )
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.response["ContactId"] == "c-1"
    assert outcome.attempts == 2
    assert script.tokens == ["batch1-row7", "batch1-row7"]  # two requests: botocore did not retry
    assert run.codes() == ["ThrottlingException", None]
    assert run.attempts[0].error is not None
    assert run.attempts[0].error.http_status == 429
    assert run.attempts[0].error.throttle
    assert run.pacer.throttles == 1
    assert run.pacer.rate == run.pacer.max_rate * 0.75  # cut once


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (Answer(503), "503"),
        (Answer(500, "InternalServiceException", "try again"), "InternalServiceException"),
        (Answer(200, delay=0.6), "ReadTimeoutError"),
    ],
    ids=["bare-503", "500", "read-timeout"],
)
async def test_server_errors_and_timeouts_are_retried(first: Answer, code: str) -> None:
    run, script, outcome = await run_script([first, Answer(200)])
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert run.codes() == [code, None]
    assert len(script.tokens) == 2
    assert run.pacer.throttles == 0


async def test_a_permanent_error_is_sent_once() -> None:
    run, script, outcome = await run_script(
        [Answer(400, "InvalidParameterException", "Name is too long")]
    )
    assert outcome.kind is OutcomeKind.FAILED
    assert run.pacer.rate == run.pacer.max_rate
    assert outcome.error.code == "InvalidParameterException"
    assert outcome.error.message == "Name is too long"
    assert outcome.error.http_status == 400
    assert len(script.tokens) == 1


async def test_the_active_task_quota_pauses_and_a_probe_resumes() -> None:
    quota = Answer(402, "ServiceQuotaExceededException", "concurrent active tasks quota reached")
    run, script, outcome = await run_script([quota, quota, Answer(200)])
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert len(script.tokens) == 3
    assert run.gate.pauses == 1
    assert run.gate.is_open


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (Answer(403, "AccessDeniedException", "not authorized"), "AccessDeniedException"),
        (Answer(400, "UnrecognizedClientException", "bad token"), "UnrecognizedClientException"),
        (
            Answer(404, "ResourceNotFoundException", "Instance 'i-1' was not found."),
            "ResourceNotFoundException",
        ),
    ],
    ids=["access-denied", "bad-credentials", "unknown-instance"],
)
async def test_fatal_errors_stop_at_once(answer: Answer, code: str) -> None:
    script = Script([answer])
    run = Run()
    async with serve(script) as url, connect_client(url) as client:
        with pytest.raises(FatalApiError) as raised:
            await run.send(client)
    assert raised.value.code == code
    assert len(script.tokens) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_retried_until_attempts_run_out() -> None:
    run = Run()
    url = f"http://127.0.0.1:{_closed_port()}"
    async with connect_client(url) as client:
        outcome = await run.send(client)
    assert outcome.kind is OutcomeKind.EXHAUSTED
    assert outcome.attempts == 3
    assert run.codes() == ["EndpointConnectionError"] * 3
