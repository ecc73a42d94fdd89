"""The emulated world: the account, its instances and the resources each instance holds.

Anything not declared here does not exist (ResourceNotFoundException). With no config file the
emulator uses :func:`default_world`, one instance with a few flows, quick connects, queues and
users, so `taskloader emulator` works out of the box.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taskloader.errors import UsageError

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_INSTANCE_ID = "11111111-1111-4111-8111-111111111111"


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    arn: str
    status: str = "ACTIVE"
    contact_flows: frozenset[str] = frozenset()
    quick_connects: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
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
            "status": self.status,
            "contact_flows": sorted(self.contact_flows),
            "quick_connects": sorted(self.quick_connects),
            "queues": sorted(self.queues),
            "users": sorted(self.users),
            "active_region": self.active_region,
        }


@dataclass(frozen=True, slots=True)
class World:
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT
    instances: Mapping[str, Instance] = field(default_factory=dict)
    #: Access key ids whose requests are refused with AccessDeniedException (403).
    denied_access_keys: frozenset[str] = frozenset()

    def instance_arn(self, instance_id: str) -> str:
        return f"arn:aws:connect:{self.region}:{self.account_id}:instance/{instance_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "account_id": self.account_id,
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
        base = default_world()
        return World(
            region=region,
            account_id=account,
            instances={
                i.id: Instance(
                    id=i.id,
                    arn=f"arn:aws:connect:{region}:{account}:instance/{i.id}",
                    contact_flows=i.contact_flows,
                    quick_connects=i.quick_connects,
                    queues=i.queues,
                    users=i.users,
                )
                for i in base.instances.values()
            },
            denied_access_keys=frozenset(data.get("denied_access_keys", ())),
        )
    instances: dict[str, Instance] = {}
    for n, raw in enumerate(raw_instances):
        if not isinstance(raw, Mapping) or not raw.get("id"):
            raise UsageError(f"{source}: world.instances[{n}] needs an 'id'")
        iid = str(raw["id"])
        instances[iid] = Instance(
            id=iid,
            arn=f"arn:aws:connect:{region}:{account}:instance/{iid}",
            status=str(raw.get("status", "ACTIVE")),
            contact_flows=frozenset(map(str, raw.get("contact_flows", ()))),
            quick_connects=frozenset(map(str, raw.get("quick_connects", ()))),
            queues=frozenset(map(str, raw.get("queues", ()))),
            users=frozenset(map(str, raw.get("users", ()))),
            active_region=str(raw["active_region"]) if raw.get("active_region") else None,
        )
    return World(
        region=region,
        account_id=account,
        instances=instances,
        denied_access_keys=frozenset(map(str, data.get("denied_access_keys", ()))),
    )
