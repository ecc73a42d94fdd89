"""The emulated world: accounts and their credentials, instances and their resources.

Anything not declared here does not exist (ResourceNotFoundException). With no config file the
emulator uses :func:`default_world`: two instances ("dev" and "prod") with a few flows, quick
connects, queues and users each, and no credentials, so `taskloader emulator` works out of the
box with any credentials. Their flows and quick connects have the same names and different ids,
as in two real instances, so copying task templates from one to the other (``templates export``
/ ``apply``) can be rehearsed locally. A world that declares credentials has its requests'
signatures verified (see sigv4.py); each instance then belongs to one account and one Region.
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
#: The default world's second instance ("prod"): same flow and quick-connect names, other ids.
SECOND_INSTANCE_ID = "66666666-6666-4666-8666-666666666666"


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
    #: Resource id -> name, for flows and quick connects (a resource without one is named by id).
    names: Mapping[str, str] = field(default_factory=dict)

    def name_of(self, resource_id: str) -> str:
        return self.names.get(resource_id, resource_id)

    #: Global Resiliency: the Region where this instance's traffic is active, when not the
    #: world's own; UpdateContact then answers InvalidActiveRegionException (400).
    active_region: str | None = None

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
            "names": dict(sorted(self.names.items())),
            "active_region": self.active_region,
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


#: Names of the default flows and quick connects, in id order; both instances use them.
DEFAULT_FLOW_NAMES = ("Callback flow", "Escalation flow", "Back-office flow")
DEFAULT_QUICK_CONNECT_NAMES = ("Billing queue", "Support queue")

#: The second instance's resources: other ids, the same names.
SECOND_FLOWS = _ids("77777777", 3)
SECOND_QUICK_CONNECTS = _ids("88888888", 2)
SECOND_QUEUES = _ids("99999999", 2)
SECOND_USERS = _ids("aaaaaaaa", 2)


def _named(flows: frozenset[str], quick_connects: frozenset[str]) -> dict[str, str]:
    return {
        **dict(zip(sorted(flows), DEFAULT_FLOW_NAMES, strict=True)),
        **dict(zip(sorted(quick_connects), DEFAULT_QUICK_CONNECT_NAMES, strict=True)),
    }


def _default_instance(
    instance_id: str, resources: tuple[frozenset[str], ...], region: str, account: str
) -> Instance:
    flows, quick_connects, queues, users = resources
    return Instance(
        id=instance_id,
        arn=f"arn:aws:connect:{region}:{account}:instance/{instance_id}",
        contact_flows=flows,
        quick_connects=quick_connects,
        queues=queues,
        users=users,
        region=region,
        account_id=account,
        names=_named(flows, quick_connects),
    )


def _default_instances(region: str, account: str) -> dict[str, Instance]:
    dev = (DEFAULT_FLOWS, DEFAULT_QUICK_CONNECTS, DEFAULT_QUEUES, DEFAULT_USERS)
    prod = (SECOND_FLOWS, SECOND_QUICK_CONNECTS, SECOND_QUEUES, SECOND_USERS)
    return {
        DEFAULT_INSTANCE_ID: _default_instance(DEFAULT_INSTANCE_ID, dev, region, account),
        SECOND_INSTANCE_ID: _default_instance(SECOND_INSTANCE_ID, prod, region, account),
    }


def default_world() -> World:
    return World(instances=_default_instances(DEFAULT_REGION, DEFAULT_ACCOUNT))


def _resources(raw: Any, where: str) -> tuple[frozenset[str], dict[str, str]]:
    """A list of ids, or of ``{id = ..., name = ...}`` tables: the ids and their names."""
    ids: set[str] = set()
    names: dict[str, str] = {}
    for n, item in enumerate(raw or ()):
        if isinstance(item, Mapping):
            if not item.get("id"):
                raise UsageError(f"{where}[{n}] needs an 'id'")
            ids.add(str(item["id"]))
            if item.get("name"):
                names[str(item["id"])] = str(item["name"])
        else:
            ids.add(str(item))
    return frozenset(ids), names


def world_from_config(data: Mapping[str, Any], source: str) -> World:
    """Build a :class:`World` from the ``[world]`` table of a config file."""
    region = str(data.get("region", DEFAULT_REGION))
    account = str(data.get("account_id", DEFAULT_ACCOUNT))
    raw_instances = data.get("instances") or ()
    instances: dict[str, Instance] = {} if raw_instances else _default_instances(region, account)
    for n, raw in enumerate(raw_instances):
        if not isinstance(raw, Mapping) or not raw.get("id"):
            raise UsageError(f"{source}: world.instances[{n}] needs an 'id'")
        iid = str(raw["id"])
        place = (str(raw.get("region", region)), str(raw.get("account_id", account)))
        where = f"{source}: world.instances[{n}]"
        flows, flow_names = _resources(raw.get("contact_flows"), f"{where}.contact_flows")
        quick, quick_names = _resources(raw.get("quick_connects"), f"{where}.quick_connects")
        instances[iid] = Instance(
            id=iid,
            arn=f"arn:aws:connect:{place[0]}:{place[1]}:instance/{iid}",
            status=str(raw.get("status", "ACTIVE")),
            contact_flows=flows,
            quick_connects=quick,
            queues=frozenset(map(str, raw.get("queues", ()))),
            users=frozenset(map(str, raw.get("users", ()))),
            region=place[0],
            account_id=place[1],
            names={**flow_names, **quick_names},
            active_region=str(raw["active_region"]) if raw.get("active_region") else None,
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
