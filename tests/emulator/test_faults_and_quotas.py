"""Fault injection (seeded) and quotas: rate buckets and the active-task limit."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from taskloader.emulator.quotas import TokenBucket
from taskloader.emulator.settings import DEFAULT_QUOTAS, Quota
from tests.conftest import REGION


def start(client: Any, emulator: Any) -> str:
    out = client.start_task_contact(
        InstanceId=emulator.instance_id, ContactFlowId=emulator.flow_id, Name="n"
    )
    return str(out["ContactId"])


def outcome(client: Any, emulator: Any) -> str:
    try:
        start(client, emulator)
    except ClientError as err:
        return str(err.response["ResponseMetadata"]["HTTPStatusCode"])
    return "200"


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("throttle", 429, "ThrottlingException"),
        ("error_500", 500, "InternalServiceException"),
        ("error_503", 503, "ServiceUnavailableException"),
    ],
)
def test_error_faults(
    fault: str, status: int, code: str, connect_client: Any, emulator: Any
) -> None:
    """A fault with probability 1 answers every API call with its status and error code."""
    emulator.configure(faults={fault: 1.0})
    with pytest.raises(ClientError) as info:
        start(connect_client, emulator)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert info.value.response["Error"]["Code"] == code
    stats = emulator.stats()
    assert stats["faults"] == {fault: 1}
    assert stats["contacts_created"] == 0


def test_drop_closes_the_connection_without_a_reply(connect_client: Any, emulator: Any) -> None:
    """drop: the connection is closed unanswered and nothing is created."""
    emulator.configure(faults={"drop": 1.0})
    with pytest.raises(ConnectionClosedError):
        start(connect_client, emulator)
    stats = emulator.stats()
    assert stats["requests"]["StartTaskContact"] == {"dropped": 1}
    assert stats["contacts_created"] == 0


def test_hang_never_replies_so_the_read_timeout_fires(emulator: Any) -> None:
    """hang: no reply at all; the client's read timeout fires."""
    emulator.configure(faults={"hang": 1.0})
    client = boto3.client(
        "connect",
        region_name=REGION,
        endpoint_url=emulator.url,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=0.3),
    )
    with pytest.raises(ReadTimeoutError):
        start(client, emulator)
    assert emulator.stats()["faults"] == {"hang": 1}


def test_latency_delays_every_answer(connect_client: Any, emulator: Any) -> None:
    """latency_ms adds at least that much to each API call; /_emulator/ is not delayed."""
    emulator.configure(faults={"latency_ms": 150.0, "jitter_ms": 20.0})
    began = time.monotonic()
    start(connect_client, emulator)
    assert time.monotonic() - began >= 0.15


def test_the_same_seed_replays_the_same_faults(connect_client: Any, emulator: Any) -> None:
    """Seeded: the same seed and request sequence give the same outcomes; another seed differs."""
    faults = {"throttle": 0.3, "error_500": 0.2, "error_503": 0.1}

    def run(seed: int) -> list[str]:
        emulator.configure(faults=faults, seed=seed)
        return [outcome(connect_client, emulator) for _ in range(40)]

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert {"200", "429", "500", "503"} <= set(first)


def test_faults_never_touch_the_inspection_endpoints(emulator: Any) -> None:
    """/_emulator/ answers even when every API call fails."""
    emulator.configure(
        faults={"error_500": 1.0}, quotas={"StartTaskContact": {"rate": 1, "burst": 1}}
    )
    assert emulator.stats()["contacts_created"] == 0
    assert emulator.contacts() == []


# -- quotas -------------------------------------------------------------------------------------


def test_token_bucket_bursts_then_refills_at_the_rate() -> None:
    """A bucket allows `burst` at once, then `rate` per second."""
    now = [0.0]
    bucket = TokenBucket(Quota(rate=2.0, burst=5), clock=lambda: now[0])
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.5  # one token
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] += 100  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 5


def test_default_quotas_follow_the_service_quotas_page() -> None:
    """2/5 for the task, template and transfer operations; 10/15 for the three listed ones."""
    assert DEFAULT_QUOTAS["StartTaskContact"] == Quota(2.0, 5)
    assert DEFAULT_QUOTAS["TransferContact"] == Quota(2.0, 5)
    assert DEFAULT_QUOTAS["CreateTaskTemplate"] == Quota(2.0, 5)
    for op in ("UpdateContact", "ListContactReferences", "DescribeContact"):
        assert DEFAULT_QUOTAS[op] == Quota(10.0, 15)


def test_start_task_contact_quota_over_http(connect_client: Any, emulator: Any) -> None:
    """At 2 req/s burst 5: five calls pass, the sixth is throttled; null turns it off."""
    emulator.configure(quotas={"StartTaskContact": {"rate": 2.0, "burst": 5}})
    assert [outcome(connect_client, emulator) for _ in range(6)] == ["200"] * 5 + ["429"]
    assert emulator.stats()["throttled"] == 1
    emulator.configure(quotas={"StartTaskContact": None})
    assert [outcome(connect_client, emulator) for _ in range(10)] == ["200"] * 10


def test_quotas_are_per_operation(connect_client: Any, emulator: Any) -> None:
    """Throttling StartTaskContact leaves DescribeContact's bucket untouched."""
    emulator.configure(quotas={"StartTaskContact": {"rate": 0.001, "burst": 1}})
    cid = start(connect_client, emulator)
    assert outcome(connect_client, emulator) == "429"
    for _ in range(3):
        connect_client.describe_contact(InstanceId=emulator.instance_id, ContactId=cid)


def test_active_task_limit_off_and_on(connect_client: Any, emulator: Any) -> None:
    """active_task_limit counts active tasks per instance; null turns it off."""
    emulator.configure(active_task_limit=1)
    assert [outcome(connect_client, emulator) for _ in range(2)] == ["200", "402"]
    emulator.configure(active_task_limit=None)
    assert outcome(connect_client, emulator) == "200"
    assert emulator.stats()["active_tasks"] == 2


def test_lifetime_drains_the_active_task_quota(connect_client: Any, emulator: Any) -> None:
    """With a task lifetime, the quota frees up as old tasks end."""
    emulator.configure(active_task_limit=1, task_lifetime_s=0.1)
    assert outcome(connect_client, emulator) == "200"
    assert outcome(connect_client, emulator) == "402"
    time.sleep(0.15)
    assert outcome(connect_client, emulator) == "200"
