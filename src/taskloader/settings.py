"""The typed settings of a run, built once at the entry point and passed down.

Sources, lowest to highest precedence: built-in defaults < the TOML file (``--config``) <
environment variables ``TASKLOADER_<NAME>`` < command-line flags. Every setting below is available
in all three places under the same name (``rate`` -> ``rate = 2.0`` in the file,
``TASKLOADER_RATE=2`` in the environment, ``--rate 2`` on the command line). The ``[mapping]``
table of the file describes how input columns map to StartTaskContact parameters.

The setting names are an allow-list: another ``TASKLOADER_*`` variable (``TASKLOADER_ENV``, a
platform's own) is ignored (:func:`ignored_env` names them for a debug note). The Region is
the setting, else the instance ARN's, else ``AWS_REGION``; botocore then tries
``AWS_DEFAULT_REGION`` and the profile. An ARN in another Region than the setting is an error.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from taskloader.errors import UsageError

ENV_PREFIX = "TASKLOADER_"


@dataclass(frozen=True, slots=True)
class Settings:
    # --- AWS ---------------------------------------------------------------------------------
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    instance_id: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    # --- templates ---------------------------------------------------------------------------
    template: str | None = None
    templates_dir: Path | None = None
    template_cache_dir: Path | None = None
    template_cache_ttl: float = 900.0
    # --- input and validation ----------------------------------------------------------------
    input_format: str | None = None
    delimiter: str | None = None  # None: a tab for .tsv, else sniffed among , ; tab |
    encoding: str | None = None  # None: UTF-8, or what a byte-order mark says
    timezone: str | None = None  # IANA zone of date-times written without an offset
    date_format: str | None = None  # e.g. "MM/DD/YYYY h:mm AM/PM", "DD/MM/YYYY", or strptime
    ragged_tolerance: int = 0
    strict: bool = False
    schedule_horizon_days: float = 6.0
    check_attachments: bool = False  # the dry run HEADs each s3:// attachment
    # --- sending -----------------------------------------------------------------------------
    rate: float = 2.0
    burst: int = 5
    concurrency: int = 4
    max_attempts: int = 8
    row_deadline: float = 300.0
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    quota_wait: float = 1800.0
    max_failures: int | None = None
    max_failure_rate: float | None = None
    max_consecutive_failures: int = 50  # the default error budget; 0 turns it off
    grace_period: float = 20.0
    attachment_url_ttl: int = 3600  # seconds a presigned attachment URL stays valid
    # --- ledger and results ------------------------------------------------------------------
    ledger: str | None = None
    out_dir: str | None = None
    batch_id: str | None = None
    force: bool = False
    redrive_failed: bool = False
    checkpoint_interval: float = 60.0
    # --- output ------------------------------------------------------------------------------
    log_format: str = "auto"
    log_level: str = "info"
    progress_interval: float = 30.0
    # --- the [mapping] table of the config file ----------------------------------------------
    mapping: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "endpoint_url" and value:
                value = _redact_url(value)
            if f.name == "mapping":
                value = f"<{len(value)} keys>"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__


def _redact_url(url: str) -> str:
    """Drop any user:password@ part of a URL."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


_HINTS = typing.get_type_hints(Settings)
_SCALAR_FIELDS = {f.name for f in dataclasses.fields(Settings) if f.name != "mapping"}
#: Settings whose surrounding blanks are a copy-and-paste accident (a ConfigMap from a file).
_TRIMMED = {"region", "profile", "instance_id", "template", "endpoint_url", "timezone"}
#: Names a delimiter may be given by (a tab is hard to type in a flag or a TOML string).
_DELIMITERS = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def _target_type(name: str) -> type:
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return typing.cast(type, args[0])
    return typing.cast(type, hint)


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Convert a raw value (a string from the environment, a TOML value) to the field's type."""
    kind = _target_type(name)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if isinstance(value, bool):
            raise ValueError(f"expected {kind.__name__}, not a boolean")
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if kind is float:
            return float(value)
        if kind is Path:
            return Path(str(value)).expanduser()
        if not isinstance(value, str):
            raise ValueError("expected a string")
        if name in _TRIMMED:
            value = value.strip()
        if name == "delimiter":
            value = _DELIMITERS.get(value.lower(), value)
        return value
    except ValueError as exc:
        raise UsageError(f"setting {name!r} from {origin}: {exc}") from exc


def _from_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    mapping = data.pop("mapping", {})
    if not isinstance(mapping, dict):
        raise UsageError(f"config file {path}: [mapping] must be a table")
    # Settings may sit at the top level or under a [taskloader] table.
    nested = data.pop("taskloader", {})
    if isinstance(nested, dict):
        data = {**data, **nested}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in _SCALAR_FIELDS:
            raise UsageError(f"config file {path}: unknown setting {key!r}")
        values[name] = _coerce(name, value, f"config file {path}")
    return values, mapping


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or raw == "":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in _SCALAR_FIELDS:
            values[name] = _coerce(name, raw, f"environment variable {key}")
    return values


def ignored_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``TASKLOADER_*`` variables that name no setting (and so are ignored), sorted."""
    env = os.environ if environ is None else environ
    return sorted(
        key
        for key in env
        if key.startswith(ENV_PREFIX)
        and key[len(ENV_PREFIX) :].lower() not in (*_SCALAR_FIELDS, "config")
    )


def load_settings(
    config_file: str | Path | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults, the config file, ``TASKLOADER_*`` variables and flags (``None`` = unset).

    The config file may also be named by ``TASKLOADER_CONFIG``.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    mapping: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        file_values, mapping = _from_file(Path(path))
        values.update(file_values)
    values.update(_from_env(env))
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in _SCALAR_FIELDS:
            raise UsageError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    settings = Settings(**values, mapping=mapping)
    _check(settings)
    return _with_region(settings, env)


def _with_region(s: Settings, env: Mapping[str, str]) -> Settings:
    """The Region: the setting, else the instance ARN's, else ``AWS_REGION`` (None: botocore's
    own chain, ``AWS_DEFAULT_REGION`` then the profile). An ARN in another Region is an error."""
    in_arn = region_of(s.instance_id) if s.instance_id else None
    if s.region and in_arn and s.region != in_arn:
        raise UsageError(
            f"the instance ARN is in Region {in_arn} but the Region is set to {s.region} "
            "(--region, TASKLOADER_REGION or the config file): make them agree"
        )
    region = s.region or in_arn or env.get("AWS_REGION", "").strip() or None
    return s if region == s.region else dataclasses.replace(s, region=region)


#: Durations and sizes that cannot be negative (the second set not zero either).
_NOT_NEGATIVE = (
    "connect_timeout", "read_timeout", "template_cache_ttl", "schedule_horizon_days",
    "row_deadline", "backoff_base", "backoff_cap", "quota_wait", "grace_period",
    "checkpoint_interval", "progress_interval",
)  # fmt: skip
_POSITIVE = frozenset({"connect_timeout", "read_timeout", "checkpoint_interval",
                       "progress_interval", "schedule_horizon_days"})  # fmt: skip


def _check(s: Settings) -> None:
    problems = []
    if s.rate <= 0:
        problems.append("rate must be > 0")
    if s.burst < 1:
        problems.append("burst must be >= 1")
    if s.concurrency < 1:
        problems.append("concurrency must be >= 1")
    if s.max_attempts < 1:
        problems.append("max_attempts must be >= 1")
    for name in _NOT_NEGATIVE:
        value = getattr(s, name)
        if not math.isfinite(value) or value < 0 or (value == 0 and name in _POSITIVE):
            bound = "> 0" if name in _POSITIVE else ">= 0"
            problems.append(f"{name} must be a number {bound}, not {value}")
    if s.max_consecutive_failures < 0:
        problems.append("max_consecutive_failures must be >= 0 (0: no limit)")
    if s.max_failure_rate is not None and not 0 < s.max_failure_rate <= 1:
        problems.append("max_failure_rate must be in (0, 1]")
    if s.delimiter is not None and len(s.delimiter) != 1:
        problems.append("delimiter must be one character, or tab, comma, semicolon or pipe")
    if s.encoding is not None:
        try:
            "a,b\n".encode(s.encoding).decode(s.encoding)
        except (LookupError, ValueError):
            problems.append(f"encoding {s.encoding!r} is not known (e.g. utf-8, cp1252, utf-16)")
    if s.timezone is not None:
        try:
            zoneinfo.ZoneInfo(s.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {s.timezone!r} is not an IANA time zone (e.g. Europe/Paris)")
    if not 1 <= s.attachment_url_ttl <= 604_800:
        problems.append("attachment_url_ttl must be 1 to 604800 seconds (7 days, the SigV4 limit)")
    if s.input_format not in (None, "csv", "jsonl"):
        problems.append("input_format must be csv or jsonl")
    if s.log_format not in ("auto", "json", "console"):
        problems.append("log_format must be auto, json or console")
    if problems:
        raise UsageError("invalid settings: " + "; ".join(problems))


def instance_id_of(value: str) -> str:
    """Accept an instance id or an instance ARN and return the id."""
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        kind, _, ident = resource.partition("/")
        if kind != "instance" or not ident or "/" in ident:
            raise UsageError(f"not an Amazon Connect instance ARN: {value!r}")
        return ident
    return value


def region_of(instance: str) -> str | None:
    """The Region part of an instance ARN, if it is one."""
    if instance.startswith("arn:"):
        parts = instance.split(":")
        return parts[3] or None if len(parts) > 3 else None
    return None
