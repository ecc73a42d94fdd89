"""The emulated service behind the HTTP layer: world, state, quotas, faults and runtime config."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from taskloader.emulator.apierror import ApiError, not_found
from taskloader.emulator.faults import FaultInjector
from taskloader.emulator.model import OperationSpec, ServiceSpec, load_service_spec
from taskloader.emulator.quotas import Quotas
from taskloader.emulator.records import ContactRecord
from taskloader.emulator.settings import (
    EmulatorSettings,
    optional_number,
    parse_faults,
    parse_quotas,
    time_scale,
)
from taskloader.emulator.sigv4 import CALLER
from taskloader.emulator.store import Persistence, State
from taskloader.emulator.world import Instance
from taskloader.errors import UsageError

_CONFIG_KEYS = frozenset(
    {
        "quotas",
        "active_task_limit",
        "task_lifetime_s",
        "time_scale",
        "faults",
        "seed",
        "idempotency_window_s",
        "schedule_horizon_s",
    }
)


class Backend:
    """One emulated account: the operations in ``ops_*`` act on it."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.spec: ServiceSpec = load_service_spec()
        self.world = settings.world
        self.clock = clock
        self.active_task_limit = settings.active_task_limit
        self.task_lifetime_s = settings.task_lifetime_s
        self.time_scale = settings.time_scale
        persistence = Persistence(settings.state_path) if settings.state_path else None
        self.state = State(persistence, deadline=self.deadline)
        self.quotas = Quotas(settings.quotas)
        self.faults = FaultInjector(settings.faults, settings.seed)
        #: Session tokens expired at runtime (POST /_emulator/expire-credentials).
        self.expired_keys: frozenset[str] = frozenset()
        self.idempotency_window_s = settings.idempotency_window_s
        self.schedule_horizon_s = settings.schedule_horizon_s
        #: Bumped by each reset: a request that began before it (one sleeping in injected
        #: latency, say, from a client killed since) must not act on the state after it.
        self.generation = 0

    def close(self) -> None:
        self.state.close()

    # -- lookups shared by the operations -------------------------------------------------

    def instance(self, op: OperationSpec, instance_id: str) -> Instance:
        """The instance an id (or ARN) names, as the caller's account and Region see it."""
        instance = self.world.instances.get(instance_id.rsplit("/", 1)[-1])
        caller = CALLER.get()
        if instance is None or (instance_id.startswith("arn:") and instance_id != instance.arn):
            raise not_found("Instance", instance_id)
        # A request signed for another Region reaches that Region's Connect, where this instance
        # does not exist; an instance of another account is not found either.
        if (
            caller is not None
            and caller.account_id is not None
            and (caller.region, caller.account_id) != (instance.region, instance.account_id)
        ):
            raise not_found("Instance", instance_id, f"Region {caller.region}")
        if not instance.active:
            raise ApiError(
                op.pick_error("InvalidRequestException", "InvalidParameterException"),
                f"Instance {instance_id!r} is not ACTIVE (status {instance.status}).",
            )
        return instance

    def contact(self, instance_id: str, contact_id: str) -> ContactRecord:
        contact = self.state.contacts.get(contact_id)
        if contact is None or contact.instance_id != instance_id:
            raise not_found("Contact", contact_id, f"instance {instance_id!r}")
        self.expire()
        return contact

    def expire(self) -> None:
        self.state.expire(self.clock())

    def deadline(self, contact: ContactRecord) -> float | None:
        """When ``contact`` ends by itself: its own expiry (``connect:ContactExpiry``), else the
        task lifetime (7 days by default), counted from creation on the scaled clock."""
        life = contact.expiry_s if contact.expiry_s is not None else self.task_lifetime_s
        return None if life is None else contact.created + life / self.time_scale

    def contact_arn(self, instance_id: str, contact_id: str) -> str:
        return f"{self.world.instance_arn(instance_id)}/contact/{contact_id}"

    # -- runtime configuration (POST /_emulator/config) ------------------------------------

    def configure(self, body: Mapping[str, Any]) -> None:
        """Apply a runtime config change; raises UsageError and changes nothing if invalid."""
        unknown = set(body) - _CONFIG_KEYS
        if unknown:
            raise UsageError(f"unknown config keys {sorted(unknown)}")
        src = "config"
        quotas = parse_quotas(body["quotas"], src, {}) if "quotas" in body else None
        faults = None
        if "faults" in body:
            if not isinstance(body["faults"], Mapping):
                raise UsageError("faults must be an object")
            faults = parse_faults(body["faults"], src, self.faults.settings)
        limit = optional_number(body.get("active_task_limit"), src, "active_task_limit")
        lifetime = optional_number(body.get("task_lifetime_s"), src, "task_lifetime_s")
        scale = time_scale(body.get("time_scale", 1.0), src)
        window = optional_number(body.get("idempotency_window_s", 0), src, "idempotency_window_s")
        horizon = optional_number(body.get("schedule_horizon_s", 0), src, "schedule_horizon_s")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise UsageError("seed must be an integer")
        # Everything is valid: apply.
        if quotas is not None:
            self.quotas.update(quotas)
        if faults is not None or seed is not None:
            self.faults.configure(faults or self.faults.settings, seed)
        if "active_task_limit" in body:
            self.active_task_limit = None if limit is None else int(limit)
        if "task_lifetime_s" in body:
            self.task_lifetime_s = lifetime
        if "time_scale" in body:
            self.time_scale = scale
        if "task_lifetime_s" in body or "time_scale" in body:
            self.state.reschedule()
        if "idempotency_window_s" in body and window is not None:
            self.idempotency_window_s = window
        if "schedule_horizon_s" in body and horizon is not None:
            self.schedule_horizon_s = horizon

    def config_json(self) -> dict[str, Any]:
        return {
            "quotas": self.quotas.to_json(),
            "active_task_limit": self.active_task_limit,
            "task_lifetime_s": self.task_lifetime_s,
            "time_scale": self.time_scale,
            "idempotency_window_s": self.idempotency_window_s,
            "schedule_horizon_s": self.schedule_horizon_s,
            "faults": self.faults.settings.to_json(),
            "seed": self.faults.seed,
        }

    def expire_credentials(self, access_key_ids: Any) -> list[str]:
        """Expire these keys' session tokens now (a credential rotation to rehearse)."""
        if not isinstance(access_key_ids, list) or not all(
            isinstance(k, str) and k in self.world.access_keys for k in access_key_ids
        ):
            raise UsageError("access_key_ids must list access keys the world declares")
        if any(self.world.access_keys[k].session_token is None for k in access_key_ids):
            raise UsageError("only temporary credentials (with a session_token) expire")
        self.expired_keys = self.expired_keys | frozenset(access_key_ids)
        return sorted(self.expired_keys)

    def restore_settings(self) -> None:
        """Back to the start-up quotas, limits and faults (the fault sequence restarts)."""
        s = self.settings
        self.quotas = Quotas(s.quotas)
        self.faults = FaultInjector(replace(s.faults), s.seed)
        self.active_task_limit = s.active_task_limit
        self.task_lifetime_s = s.task_lifetime_s
        self.time_scale = s.time_scale
        self.state.reschedule()
        self.idempotency_window_s = s.idempotency_window_s
        self.schedule_horizon_s = s.schedule_horizon_s

    # -- inspection ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        self.expire()
        st = self.state
        per_instance = {iid: st.active_count(iid) for iid in self.world.instances}
        return {
            "requests": {op: dict(codes) for op, codes in st.requests.items()},
            "requests_by_access_key": dict(st.requests_by_access_key),
            "contacts_created": st.contacts_created,
            "idempotent_replays": st.idempotent_replays,
            "throttled": st.throttled,
            "active_tasks": sum(per_instance.values()),
            "active_tasks_by_instance": per_instance,
            "duplicate_tokens": st.duplicate_tokens,
            "faults": dict(st.faults),
            "templates": sum(len(t) for t in st.templates.values()),
        }

    def contacts_json(self) -> list[dict[str, Any]]:
        self.expire()
        return [c.inspect() for c in self.state.contacts.values()]
