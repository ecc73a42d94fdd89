"""One aioboto3 session and one long-lived Amazon Connect client per run.

Credentials come only from the standard chain (environment, profiles and SSO, the ECS task
role, web identity). botocore's own retries are off: taskloader counts and paces every attempt
itself (see :mod:`taskloader.retry`), so stacked retries never hide throttles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig

from taskloader.errors import UsageError
from taskloader.settings import Settings, instance_id_of, region_of


def client_config(settings: Settings, *, pool: int | None = None) -> AioConfig:
    return AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=max(pool or 0, settings.concurrency + 4, 10),
    )


def resolved_instance_id(settings: Settings) -> str:
    if not settings.instance_id:
        raise UsageError("no instance: set --instance-id (or TASKLOADER_INSTANCE_ID)")
    return instance_id_of(settings.instance_id)


@asynccontextmanager
async def connect_client(settings: Settings) -> AsyncIterator[Any]:
    """Open the run's Connect client; it is closed when the block exits."""
    region = settings.region or (region_of(settings.instance_id or "") or None)
    session = aioboto3.Session(profile_name=settings.profile, region_name=region)
    if session.region_name is None:
        raise UsageError("no AWS Region: set --region, AWS_REGION or a profile's region")
    async with session.client(
        "connect", endpoint_url=settings.endpoint_url, config=client_config(settings)
    ) as client:
        yield client
