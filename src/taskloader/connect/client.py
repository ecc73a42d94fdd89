"""One aiobotocore session and one long-lived Amazon Connect client per run.

Credentials come only from the standard chain (environment, profiles and SSO, the ECS task
role, web identity). botocore's own retries are off: taskloader counts and paces every attempt
itself (see :mod:`taskloader.connect.retry`), so stacked retries never hide throttles.

The client comes from aiobotocore directly, not aioboto3: taskloader only opens clients from a
session, and aioboto3's releases pin an aiobotocore (and so a botocore) whose Connect model lags
the service (see the design decisions in ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from taskloader.aws import AwsOptions
from taskloader.errors import UsageError


def client_config(aws: AwsOptions, *, pool: int = 10) -> AioConfig:
    return AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=aws.connect_timeout,
        read_timeout=aws.read_timeout,
        max_pool_connections=max(pool, 10),
    )


def aws_session(aws: AwsOptions) -> tuple[AioSession, str]:
    """The run's session and Region (from ``aws.region``, the environment or the profile)."""
    session = AioSession(profile=aws.profile)
    region = aws.region or session.get_config_variable("region")
    if not region:
        raise UsageError("no AWS Region: set --region, AWS_REGION or a profile's region")
    return session, str(region)


@asynccontextmanager
async def connect_client(aws: AwsOptions, *, pool: int = 10) -> AsyncIterator[Any]:
    """Open the run's Connect client; it is closed when the block exits.

    ``pool`` is the number of connections the run keeps (its concurrency plus a margin).
    """
    session, region = aws_session(aws)
    async with session.create_client(
        "connect",
        region_name=region,
        endpoint_url=aws.connect_endpoint,
        config=client_config(aws, pool=pool),
    ) as client:
        await _open_http(client)
        yield client


async def _open_http(client: Any) -> None:
    """Make the client's HTTP session now, before the pacer grants the first burst.

    Since aiobotocore 3 the first request of a client builds the TLS context (reading the CA
    bundle) in a worker thread, ~20 ms on a busy machine; the first burst then reaches the
    service late and bunched with the next grants (aiobotocore 2 built it when the client was
    made). aiobotocore has no public hook for this: the private one is used if it is there.
    """
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    open_session = getattr(http, "_get_session", None)
    if open_session is not None:
        await open_session(None)
