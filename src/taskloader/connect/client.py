"""One aioboto3 session and one long-lived Amazon Connect client per run.

Credentials come only from the standard chain (environment, profiles and SSO, the ECS task
role, web identity). botocore's own retries are off: taskloader counts and paces every attempt
itself (see :mod:`taskloader.connect.retry`), so stacked retries never hide throttles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig

from taskloader.aws import AwsOptions
from taskloader.errors import UsageError


def client_config(aws: AwsOptions, *, pool: int = 10) -> AioConfig:
    return AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=aws.connect_timeout,
        read_timeout=aws.read_timeout,
        max_pool_connections=max(pool, 10),
    )


@asynccontextmanager
async def connect_client(aws: AwsOptions, *, pool: int = 10) -> AsyncIterator[Any]:
    """Open the run's Connect client; it is closed when the block exits.

    ``pool`` is the number of connections the run keeps (its concurrency plus a margin).
    """
    session = aioboto3.Session(profile_name=aws.profile, region_name=aws.region)
    if session.region_name is None:
        raise UsageError("no AWS Region: set --region, AWS_REGION or a profile's region")
    async with session.client(
        "connect", endpoint_url=aws.connect_endpoint, config=client_config(aws, pool=pool)
    ) as client:
        yield client
