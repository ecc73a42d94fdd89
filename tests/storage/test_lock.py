"""The S3 overlap lock: one live run per ledger location, expiry, takeover, heartbeat, release."""

import json
from typing import Any

import anyio
import pytest
from botocore.exceptions import EndpointConnectionError

from taskloader.errors import LedgerLockedError
from taskloader.storage.lock import S3Lock
from taskloader.storage.s3 import S3Url


class Clock:
    """A settable clock, so expiry is tested without waiting for it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lock_body(client: Any, url: S3Url) -> dict[str, Any]:
    obj = client.get_object(Bucket=url.bucket, Key=url.key)
    data: dict[str, Any] = json.loads(obj["Body"].read())
    return data


def exists(client: Any, url: S3Url) -> bool:
    return any(
        o["Key"] == url.key
        for o in client.list_objects_v2(Bucket=url.bucket, Prefix=url.key).get("Contents", [])
    )


@pytest.fixture
def url(out: S3Url) -> S3Url:
    return out.join("ledger.lock")


def take_over(client: Any, url: S3Url, owner: str) -> None:
    """What another run's takeover does to the object (our heartbeat races it otherwise)."""
    body = {**lock_body(client, url), "owner": owner}
    client.put_object(Bucket=url.bucket, Key=url.key, Body=json.dumps(body).encode())


def make(client: Any, url: S3Url, clock: Clock, **kwargs: Any) -> S3Lock:
    return S3Lock(client, url, ledger="s3://b/p/ledger.sqlite", ttl=60, clock=clock, **kwargs)


async def test_the_lock_object_names_its_owner_and_is_deleted_at_exit(
    client: Any, url: S3Url
) -> None:
    clock = Clock()
    async with make(client, url, clock, owner="run-a") as lock:
        body = lock_body(client, url)
        assert body["owner"] == "run-a" and body["pid"] > 0 and body["host"]
        assert body["expires"] == clock.now + 60 and body["created"] == clock.now
        assert body["expires_at"].endswith("+00:00")
        assert lock.info is not None and lock.info.owner == "run-a"
    assert not exists(client, url)


async def test_a_second_run_is_refused_while_the_first_lives(client: Any, url: S3Url) -> None:
    clock = Clock()
    async with make(client, url, clock, owner="run-a"):
        clock.now += 59
        with pytest.raises(LedgerLockedError) as err:
            async with make(client, url, clock, owner="run-b"):
                pytest.fail("the second run got the lock")
        message = str(err.value)
        assert "run run-a on" in message and "expires" in message and "(in 1 s)" in message
        assert str(url) in message
        assert err.value.exit_code == 2
        assert lock_body(client, url)["owner"] == "run-a"  # the refused run deleted nothing


async def test_a_lock_whose_owner_died_is_taken_over_after_its_expiry(
    client: Any, url: S3Url
) -> None:
    clock = Clock()
    dead = make(client, url, clock, owner="dead")
    await dead.acquire()  # and never refreshed nor released, as after a kill -9
    clock.now += 61
    async with make(client, url, clock, owner="next") as lock:
        assert lock_body(client, url)["owner"] == "next"
        # The dead owner, were it to wake up, finds the lock gone from under it ...
        assert await dead.refresh() is False
        # ... and its release leaves the new owner's lock in place.
        await dead.release()
        assert lock_body(client, url)["owner"] == "next"
        assert lock.lost is None
    assert not exists(client, url)


async def test_of_two_runs_seeing_the_same_expired_lock_only_one_takes_it(
    client: Any, url: S3Url
) -> None:
    clock = Clock()
    await make(client, url, clock, owner="dead").acquire()
    clock.now += 61
    async with make(client, url, clock, owner="first"):
        with pytest.raises(LedgerLockedError, match="run first on"):
            await make(client, url, clock, owner="second").acquire()


async def test_a_refresh_pushes_the_expiry_forward(client: Any, url: S3Url) -> None:
    clock = Clock()
    async with make(client, url, clock, owner="a", heartbeat=3600) as lock:
        clock.now += 50
        assert await lock.refresh() is True
        body = lock_body(client, url)
        assert body["expires"] == clock.now + 60 and body["refreshed"] == clock.now
        clock.now += 59  # past the first expiry, within the refreshed one
        with pytest.raises(LedgerLockedError):
            await make(client, url, clock, owner="b").acquire()


async def test_the_heartbeat_refreshes_the_lock_while_the_run_lives(
    client: Any, url: S3Url
) -> None:
    clock = Clock()
    async with make(client, url, clock, owner="a", heartbeat=0.01):
        clock.now += 30
        with anyio.fail_after(10):
            while lock_body(client, url)["refreshed"] != clock.now:
                await anyio.sleep(0.01)


async def test_a_lost_lock_cancels_the_run_and_raises(client: Any, url: S3Url) -> None:
    clock = Clock()
    reached_end = False
    with pytest.raises(LedgerLockedError, match="lock lost: another run took over"):
        async with make(client, url, clock, owner="slow", heartbeat=0.01):
            take_over(client, url, "other")  # e.g. after our heartbeats failed for a whole TTL
            with anyio.fail_after(10):
                await anyio.sleep_forever()
            reached_end = True
    assert not reached_end
    assert lock_body(client, url)["owner"] == "other"  # never deleted by the loser


async def test_a_lost_lock_is_reported_to_on_lost_instead_when_given(
    client: Any, url: S3Url
) -> None:
    clock = Clock()
    lost = anyio.Event()
    messages: list[str] = []

    def on_lost(message: str) -> None:
        messages.append(message)
        lost.set()

    async with make(client, url, clock, owner="slow", heartbeat=0.01, on_lost=on_lost) as lock:
        take_over(client, url, "other")
        with anyio.fail_after(10):
            await lost.wait()
        assert lock.lost == messages[0]
    assert lock_body(client, url)["owner"] == "other"


async def test_an_unreadable_lock_counts_as_held_until_its_age_passes_the_ttl(
    client: Any, url: S3Url
) -> None:
    client.put_object(Bucket=url.bucket, Key=url.key, Body=b"not json")
    last_modified = client.head_object(Bucket=url.bucket, Key=url.key)["LastModified"]
    clock = Clock(last_modified.timestamp() + 10)
    with pytest.raises(LedgerLockedError, match="run unknown"):
        await make(client, url, clock, owner="a").acquire()
    clock.now += 60
    async with make(client, url, clock, owner="a"):
        assert lock_body(client, url)["owner"] == "a"


class FlakyPuts:
    """The real client, except that PutObject fails like an unreachable endpoint while broken."""

    def __init__(self, real: Any) -> None:
        self.real, self.broken, self.failures = real, False, 0

    def put_object(self, **kwargs: Any) -> Any:
        if self.broken:
            self.failures += 1
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        return self.real.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_failed_heartbeats_keep_the_lock_until_its_expiry_then_lose_it(
    client: Any, url: S3Url
) -> None:
    clock = Clock()
    flaky = FlakyPuts(client)
    lost = anyio.Event()
    messages: list[str] = []

    def on_lost(message: str) -> None:
        messages.append(message)
        lost.set()

    async with make(flaky, url, clock, owner="a", heartbeat=0.01, on_lost=on_lost) as lock:
        flaky.broken = True
        with anyio.fail_after(10):
            while flaky.failures < 3:
                await anyio.sleep(0.01)
        assert lock.lost is None
        clock.now += 61
        with anyio.fail_after(10):
            await lost.wait()
    assert "could not refresh" in messages[0]
    assert lock_body(client, url)["owner"] == "a"  # not released: it may be someone else's now
