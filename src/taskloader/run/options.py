"""The edge between the settings and the components: each gets its own small typed options.

The command line reads :class:`~taskloader.settings.Settings` once; the engines (``run``,
``validate``, ``demo``) turn it into the values below. No module below the engines imports
``Settings``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from functools import partial
from typing import Any

from taskloader.aws import AwsOptions
from taskloader.checks.request import Limits
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import UsageError
from taskloader.input.location import InputOptions
from taskloader.input.readers import SourceOptions, fold
from taskloader.ledger.target import LedgerTarget
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.times import check_date_format
from taskloader.run.template_sync import SyncOptions
from taskloader.settings import Settings, instance_id_of, region_of
from taskloader.templates.cache import TemplateCache, TemplateOptions, open_template_cache


def aws_options(settings: Settings) -> AwsOptions:
    """Profile, Region (as :func:`~taskloader.settings.load_settings` resolved it, else the
    instance ARN's), endpoint and timeouts."""
    region = settings.region or (region_of(settings.instance_id or "") or None)
    return AwsOptions(
        profile=settings.profile,
        region=region,
        connect_endpoint=settings.endpoint_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )


def instance_id(settings: Settings) -> str:
    """The instance id (from an id or an ARN); a usage error when none is set."""
    if not settings.instance_id:
        raise UsageError("no instance: set --instance-id (or TASKLOADER_INSTANCE_ID)")
    return instance_id_of(settings.instance_id)


def ledger_target(settings: Settings, client: Any = None) -> LedgerTarget:
    """The target a run's ledger belongs to: instance (and ARN when given), Region, endpoint.

    ``client`` is the Connect client of the run: its Region for when neither ``--region`` nor
    an ARN names one, and the endpoint it resolved, however it was set (``--endpoint-url``,
    ``AWS_ENDPOINT_URL_CONNECT``, ``AWS_ENDPOINT_URL``, a profile's ``endpoint_url``).
    """
    given = settings.instance_id or ""
    meta = getattr(client, "meta", None)
    resolved = getattr(meta, "endpoint_url", None)
    return LedgerTarget(
        instance_id=instance_id(settings),
        region=aws_options(settings).region or getattr(meta, "region_name", None),
        endpoint=settings.endpoint_url or _custom(resolved if isinstance(resolved, str) else None),
        instance_arn=given if given.startswith("arn:") else None,
    )


_AWS_CONNECT = re.compile(r"^https://connect(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/?$")


def _custom(url: str | None) -> str | None:
    """``url`` unless it is Amazon Connect's own endpoint for a Region (recorded as None)."""
    return None if url is None or _AWS_CONNECT.match(url) else url


def template_options(settings: Settings) -> TemplateOptions:
    return TemplateOptions(
        templates_dir=settings.templates_dir,
        cache_dir=settings.template_cache_dir,
        ttl=settings.template_cache_ttl,
    )


def template_cache(settings: Settings) -> AbstractAsyncContextManager[TemplateCache]:
    """The template cache of a command that has no Connect client of its own."""
    return open_template_cache(
        template_options(settings), aws_options(settings), partial(instance_id, settings)
    )


def sync_options(settings: Settings, *, rate: float, burst: int) -> SyncOptions:
    """``templates export | plan | apply``: the instance, and template calls paced at
    ``rate``/``burst`` (the template operations' own quota) with the run's backoff settings."""
    if rate <= 0 or burst < 1:
        raise UsageError("--rate must be > 0 and --burst >= 1")
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base=settings.backoff_base,
        cap=max(settings.backoff_cap, settings.backoff_base),
        deadline=max(60.0, settings.backoff_cap * 3),
    )
    return SyncOptions(aws_options(settings), instance_id(settings), rate, burst, policy)


def limits(settings: Settings) -> Limits:
    return Limits(schedule_horizon=timedelta(days=settings.schedule_horizon_days))


def source_options(settings: Settings) -> SourceOptions:
    fmt: Any = settings.input_format
    return SourceOptions(
        format=fmt,
        delimiter=settings.delimiter,
        ragged_tolerance=settings.ragged_tolerance,
        encoding=settings.encoding,
    )


def input_options(settings: Settings) -> InputOptions:
    return InputOptions(source_options(settings), aws_options(settings))


def mapping_config(settings: Settings) -> MappingConfig:
    """The ``[mapping]`` table of the settings file as a typed value."""
    raw = dict(settings.mapping)

    def table(name: str) -> dict[str, str]:
        value = raw.pop(name, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise UsageError(f"[mapping] {name} must be a table of strings")
        return {str(k): v for k, v in value.items()}

    def names(name: str) -> tuple[str, ...]:
        value = raw.pop(name, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise UsageError(f"[mapping] {name} must be a list of column names")
        return tuple(str(v) for v in value)

    constants = table("constants")
    constant_template = next((v for k, v in constants.items() if fold(k) == "template"), None)
    config = MappingConfig(
        rename=table("rename"),
        constants=constants,
        attributes=names("attributes"),
        references=names("references"),
        ignore=names("ignore"),
        strict=settings.strict,
        default_template=settings.template or constant_template,
        timezone=settings.timezone,
        date_format=settings.date_format,
    )
    if raw:
        raise UsageError(f"[mapping] has unknown keys: {', '.join(sorted(raw))}")
    if config.date_format:
        try:
            check_date_format(config.date_format)
        except ValueError as exc:
            raise UsageError(f"--date-format: {exc}") from None
    return config
