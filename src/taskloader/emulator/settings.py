"""Typed emulator settings, built once at the entry point (CLI flags, a TOML file, or code)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from taskloader.emulator.model import OPERATIONS
from taskloader.emulator.world import World, default_world, world_from_config
from taskloader.errors import UsageError

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Quota:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` banked."""

    rate: float
    burst: int

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "burst": self.burst}


#: Connect's default API rate quotas (per account and Region), from the service quotas page.
DEFAULT_QUOTAS: Mapping[str, Quota | None] = {
    op: Quota(10.0, 15)
    if op in ("UpdateContact", "ListContactReferences", "DescribeContact", "StopContact")
    else Quota(2.0, 5)
    for op in OPERATIONS
}
NO_QUOTAS: Mapping[str, Quota | None] = dict.fromkeys(OPERATIONS)


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Probabilities per request, plus added latency. All zero means no fault injection."""

    throttle: float = 0.0
    error_500: float = 0.0
    error_503: float = 0.0
    drop: float = 0.0
    hang: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        probs = (self.throttle, self.error_500, self.error_503, self.drop, self.hang)
        if any(p < 0 or p > 1 for p in probs) or sum(probs) > 1 + 1e-9:
            raise UsageError("fault probabilities must be in [0, 1] and add up to at most 1")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise UsageError("latency_ms and jitter_ms must not be negative")

    @property
    def enabled(self) -> bool:
        return any((self.throttle, self.error_500, self.error_503, self.drop, self.hang)) or bool(
            self.latency_ms or self.jitter_ms
        )

    def to_json(self) -> dict[str, float]:
        return {
            "throttle": self.throttle,
            "error_500": self.error_500,
            "error_503": self.error_503,
            "drop": self.drop,
            "hang": self.hang,
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
        }


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    host: str = "127.0.0.1"
    port: int = 0
    world: World = field(default_factory=default_world)
    quotas: Mapping[str, Quota | None] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    #: Concurrent active tasks per instance; None = no limit.
    active_task_limit: int | None = 2500
    #: Seconds a task stays active unless its connect:ContactExpiry says otherwise: Connect's
    #: default of 7 days (Administrator Guide, feature specifications); None = until
    #: POST /_emulator/complete-tasks.
    task_lifetime_s: float | None = 7 * DAY
    #: Emulated seconds per real second for task lifetimes (86400: a day passes in a second).
    time_scale: float = 1.0
    idempotency_window_s: float = 7 * DAY
    #: How far ahead ScheduledTime may be (the model's docs say 6 days; newer pages 90).
    schedule_horizon_s: float = 6 * DAY
    faults: FaultSettings = field(default_factory=FaultSettings)
    seed: int | None = None
    templates_dir: Path | None = None
    state_path: Path | None = None
    #: Longest a "hang" fault holds a request before dropping the connection.
    hang_max_s: float = 300.0

    def without_limits(self) -> EmulatorSettings:
        """The same settings with every quota and the active-task limit off."""
        return replace(self, quotas=dict(NO_QUOTAS), active_task_limit=None)


def _off(value: Any) -> bool:
    return value is None or value is False or value == "off"


def parse_quotas(
    raw: Any, source: str, base: Mapping[str, Quota | None]
) -> dict[str, Quota | None]:
    """``"off"`` for all, or a table ``{Operation: {rate, burst} | "off"}`` merged over ``base``."""
    if _off(raw):
        return dict(NO_QUOTAS)
    if not isinstance(raw, Mapping):
        raise UsageError(f"{source}: quotas must be 'off' or a table of operations")
    out = dict(base)
    for op, value in raw.items():
        if op not in OPERATIONS:
            raise UsageError(f"{source}: unknown operation {op!r} in quotas")
        if _off(value):
            out[op] = None
            continue
        try:
            rate, burst = float(value["rate"]), int(value["burst"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{source}: quotas.{op} needs numeric 'rate' and 'burst'") from exc
        if rate <= 0 or burst < 1:
            raise UsageError(f"{source}: quotas.{op} needs rate > 0 and burst >= 1")
        out[op] = Quota(rate, burst)
    return out


def parse_faults(raw: Mapping[str, Any], source: str, base: FaultSettings) -> FaultSettings:
    known = set(FaultSettings.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise UsageError(f"{source}: unknown fault keys {sorted(unknown)}")
    try:
        values = {k: float(v) for k, v in raw.items()}
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{source}: fault values must be numbers") from exc
    try:
        return replace(base, **values)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from exc


def optional_number(raw: Any, source: str, key: str) -> float | None:
    if _off(raw):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{source}: {key} must be a number or 'off'") from exc
    if value < 0:
        raise UsageError(f"{source}: {key} must not be negative")
    return value


def time_scale(raw: Any, source: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{source}: time_scale must be a number") from exc
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{source}: time_scale must be a positive number")
    return value


def load_settings(path: Path, base: EmulatorSettings | None = None) -> EmulatorSettings:
    """Read a TOML config file (format in docs/emulator.md) over ``base``."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read emulator config {source}: {exc}") from exc
    settings = base or EmulatorSettings()
    if "world" in data:
        settings = replace(settings, world=world_from_config(data["world"], source))
    if "quotas" in data:
        settings = replace(settings, quotas=parse_quotas(data["quotas"], source, settings.quotas))
    if "faults" in data:
        settings = replace(settings, faults=parse_faults(data["faults"], source, settings.faults))
    limits = data.get("limits", {})
    changes: dict[str, Any] = {}
    if "active_task_limit" in limits:
        limit = optional_number(limits["active_task_limit"], source, "active_task_limit")
        changes["active_task_limit"] = None if limit is None else int(limit)
    if "task_lifetime_s" in limits:
        changes["task_lifetime_s"] = optional_number(
            limits["task_lifetime_s"], source, "task_lifetime_s"
        )
    if "time_scale" in limits:
        changes["time_scale"] = time_scale(limits["time_scale"], source)
    for key in ("idempotency_window_s", "schedule_horizon_s"):
        if key in limits:
            value = optional_number(limits[key], source, key)
            if value is None:
                raise UsageError(f"{source}: {key} cannot be 'off'")
            changes[key] = value
    if "schedule_horizon_days" in limits:
        days = optional_number(limits["schedule_horizon_days"], source, "schedule_horizon_days")
        changes["schedule_horizon_s"] = (days or 0.0) * DAY
    if "seed" in data:
        changes["seed"] = int(data["seed"])
    return replace(settings, **changes)
