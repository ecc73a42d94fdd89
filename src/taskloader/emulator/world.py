"""The emulated world: accounts and their credentials, instances and their resources.

Anything not declared here does not exist (ResourceNotFoundException). With no config file the
emulator uses :func:`default_world`, one instance with a few flows, quick connects, queues and
users, and no credentials, so `taskloader emulator` works out of the box with any credentials.
A world that declares credentials has its requests' signatures verified (see sigv4.py); each
instance then belongs to one account and one Region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from taskloader.errors import UsageError

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_INSTANCE_ID = "11111111-1111-4111-8111-111111111111"


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One credential: an access key of an account, optionally a session token with expiry."""

    access_key_id: str
    secret_access_key: str
    account_id: str = DEFAULT_ACCOUNT
    session_token: str | None = None
    #: Epoch seconds after which the session token is expired (None: never).
    expires: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Without the secret and the token: /_emulator/world is readable by any local user."""
        return {
            "access_key_id": self.access_key_id,
            "account_id": self.account_id,
            "session_token": self.session_token is not None,
            "expires": self.expires,
        }


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    arn: str
    status: str = "ACTIVE"
    contact_flows: frozenset[str] = frozenset()
    quick_connects: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "arn": self.arn,
            "region": self.region,
            "account_id": self.account_id,
            "status": self.status,
            "contact_flows": sorted(self.contact_flows),
            "quick_connects": sorted(self.quick_connects),
            "queues": sorted(self.queues),
            "users": sorted(self.users),
        }


@dataclass(frozen=True, slots=True)
class World:
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT
    instances: Mapping[str, Instance] = field(default_factory=dict)
    #: Access key ids whose requests are refused with AccessDeniedException (403).
    denied_access_keys: frozenset[str] = frozenset()
    #: Access key id -> credential; requests are verified when any is declared.
    access_keys: Mapping[str, AccessKey] = field(default_factory=dict)
    #: Verify SigV4 signatures: None = when credentials are declared.
    verify: bool | None = None

    @property
    def verify_signatures(self) -> bool:
        return bool(self.access_keys) if self.verify is None else self.verify

    def instance_arn(self, instance_id: str) -> str:
        instance = self.instances.get(instance_id)
        if instance is not None:
            return instance.arn
        return f"arn:aws:connect:{self.region}:{self.account_id}:instance/{instance_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "account_id": self.account_id,
            "verify_signatures": self.verify_signatures,
            "credentials": [k.to_json() for k in self.access_keys.values()],
            "instances": [i.to_json() for i in self.instances.values()],
        }


def _ids(prefix: str, count: int) -> frozenset[str]:
    return frozenset(
        f"{prefix}-{prefix[:4]}-4{prefix[:3]}-8{prefix[:3]}-{n:012d}" for n in range(1, count + 1)
    )


#: Ids of the default world, for docs, examples and tests.
DEFAULT_FLOWS = _ids("22222222", 3)
DEFAULT_QUICK_CONNECTS = _ids("33333333", 2)
DEFAULT_QUEUES = _ids("44444444", 2)
DEFAULT_USERS = _ids("55555555", 2)


def default_world() -> World:
    instance = Instance(
        id=DEFAULT_INSTANCE_ID,
        arn=f"arn:aws:connect:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:instance/{DEFAULT_INSTANCE_ID}",
        contact_flows=DEFAULT_FLOWS,
        quick_connects=DEFAULT_QUICK_CONNECTS,
        queues=DEFAULT_QUEUES,
        users=DEFAULT_USERS,
    )
    return World(instances={instance.id: instance})


def world_from_config(data: Mapping[str, Any], source: str) -> World:
    """Build a :class:`World` from the ``[world]`` table of a config file."""
    region = str(data.get("region", DEFAULT_REGION))
    account = str(data.get("account_id", DEFAULT_ACCOUNT))
    raw_instances = data.get("instances")
    if not raw_instances:
        raw_instances = [
            {
                "id": i.id,
                "contact_flows": i.contact_flows,
                "quick_connects": i.quick_connects,
                "queues": i.queues,
                "users": i.users,
            }
            for i in default_world().instances.values()
        ]
    instances: dict[str, Instance] = {}
    for n, raw in enumerate(raw_instances):
        if not isinstance(raw, Mapping) or not raw.get("id"):
            raise UsageError(f"{source}: world.instances[{n}] needs an 'id'")
        iid = str(raw["id"])
        where = (str(raw.get("region", region)), str(raw.get("account_id", account)))
        instances[iid] = Instance(
            id=iid,
            arn=f"arn:aws:connect:{where[0]}:{where[1]}:instance/{iid}",
            status=str(raw.get("status", "ACTIVE")),
            contact_flows=frozenset(map(str, raw.get("contact_flows", ()))),
            quick_connects=frozenset(map(str, raw.get("quick_connects", ()))),
            queues=frozenset(map(str, raw.get("queues", ()))),
            users=frozenset(map(str, raw.get("users", ()))),
            region=where[0],
            account_id=where[1],
        )
    verify = data.get("verify_signatures")
    if verify is not None and not isinstance(verify, bool):
        raise UsageError(f"{source}: world.verify_signatures must be true or false")
    keys = [
        _access_key(raw, n, account, source) for n, raw in enumerate(data.get("credentials", ()))
    ]
    return World(
        region=region,
        account_id=account,
        instances=instances,
        denied_access_keys=frozenset(map(str, data.get("denied_access_keys", ()))),
        access_keys={k.access_key_id: k for k in keys},
        verify=verify,
    )


def _access_key(raw: Any, n: int, account: str, source: str) -> AccessKey:
    where = f"{source}: world.credentials[{n}]"
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} must be a table")
    try:
        key_id, secret = str(raw["access_key_id"]), str(raw["secret_access_key"])
    except KeyError as exc:
        raise UsageError(f"{where} needs {exc.args[0]!r}") from None
    token = raw.get("session_token")
    expires = raw.get("expires")
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            raise UsageError(f"{where}: expires needs a UTC offset (e.g. 2030-01-01T00:00:00Z)")
        expires = expires.timestamp()
    elif expires is not None and (
        isinstance(expires, date | bool) or not isinstance(expires, int | float)
    ):
        raise UsageError(f"{where}: expires must be a date-time with offset or epoch seconds")
    if expires is not None and token is None:
        raise UsageError(f"{where}: expires applies to a session_token; add one")
    return AccessKey(
        access_key_id=key_id,
        secret_access_key=secret,
        account_id=str(raw.get("account_id", account)),
        session_token=None if token is None else str(token),
        expires=None if expires is None else float(expires),
    )
