"""The template cache: resolve a row's template by id or name, fetch each definition once.

Where templates come from is behind :class:`TemplateSource`: the Connect API
(:class:`ApiTemplateSource`) or a directory written by ``taskloader templates pull``
(:class:`DirTemplateSource`, fully offline). :class:`TemplateCache` sits on top: the listing is
read once, and each template is fetched once per run however many rows or workers ask at the same
time. An optional on-disk cache with a TTL spares the API across runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import structlog

from taskloader.aws import AwsOptions
from taskloader.connect.client import connect_client
from taskloader.connect.pacing import Pacer
from taskloader.connect.quota_gate import QuotaGate
from taskloader.connect.retry import OutcomeKind, RetryPolicy, call_with_retries
from taskloader.errors import FatalApiError, UsageError
from taskloader.templates.model import TaskTemplate

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    id: str
    name: str
    status: str


class TemplateLookupError(Exception):
    """A row names a template that does not exist or is ambiguous (a row-level problem)."""

    def __init__(self, code: str, ref: str, message: str) -> None:
        self.code = code
        self.ref = ref
        self.reason = message
        super().__init__(message)


class TemplateSource(Protocol):
    async def list(self) -> Sequence[TemplateSummary]: ...

    async def get(self, template_id: str) -> TaskTemplate: ...


Caller = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def _call_once(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


def retrying_call(
    pacer: Pacer, policy: RetryPolicy | None = None, *, action: str = "reading task templates"
) -> Caller:
    """Wrap template API calls in taskloader's retry loop, paced by ``pacer``.

    Template operations share a 2 requests/s default quota too. A call that still fails raises
    :class:`FatalApiError` (``"<action> failed: ..."``): for a run, without its templates no row
    can be checked.
    """
    gate = QuotaGate(quota_wait=0)
    retry_policy = policy or RetryPolicy(max_attempts=6, base=0.5, cap=5.0, deadline=60.0)

    async def call(fn: Callable[[], Awaitable[Any]]) -> Any:
        outcome = await call_with_retries(fn, policy=retry_policy, pacer=pacer, gate=gate)
        if outcome.kind is OutcomeKind.SUCCEEDED:
            return outcome.response
        error = outcome.error
        code = error.code if error else "TemplateLookupFailed"
        message = error.message if error else "the template lookup did not succeed"
        raise FatalApiError(code, f"{action} failed: {message}")

    return call


class ApiTemplateSource:
    """Templates read with ListTaskTemplates and GetTaskTemplate.

    ``call`` wraps every API call (the retry loop: template operations are throttled at
    2 requests/s by default too).
    """

    def __init__(self, client: Any, instance_id: str, *, call: Caller = _call_once) -> None:
        self._client = client
        self._instance_id = instance_id
        self._call = call

    async def list(self) -> Sequence[TemplateSummary]:
        found: list[TemplateSummary] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"InstanceId": self._instance_id, "MaxResults": 100}
            if token:
                kwargs["NextToken"] = token

            async def page(kwargs: dict[str, Any] = kwargs) -> Any:
                return await self._client.list_task_templates(**kwargs)

            response = await self._call(page)
            found.extend(
                TemplateSummary(t["Id"], t["Name"], t.get("Status", "ACTIVE"))
                for t in response.get("TaskTemplates", ())
            )
            token = response.get("NextToken")
            if not token:
                return found

    async def get(self, template_id: str) -> TaskTemplate:
        async def fetch() -> Any:
            return await self._client.get_task_template(
                InstanceId=self._instance_id, TaskTemplateId=template_id
            )

        return TaskTemplate.from_api(await self._call(fetch))


class DirTemplateSource:
    """Templates from ``*.json`` files in GetTaskTemplate shape (``templates pull`` output)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._templates: dict[str, TaskTemplate] | None = None

    def _load(self) -> dict[str, TaskTemplate]:
        if self._templates is None:
            if not self._dir.is_dir():
                raise UsageError(f"templates directory {self._dir} does not exist")
            loaded: dict[str, TaskTemplate] = {}
            for path in sorted(self._dir.glob("*.json")):
                try:
                    template = TaskTemplate.from_api(json.loads(path.read_text(encoding="utf-8")))
                except (ValueError, KeyError, TypeError) as exc:
                    raise UsageError(f"template file {path} is not a task template: {exc}") from exc
                loaded[template.id] = template
            self._templates = loaded
        return self._templates

    async def list(self) -> Sequence[TemplateSummary]:
        templates = await anyio.to_thread.run_sync(self._load)
        return [TemplateSummary(t.id, t.name, t.status) for t in templates.values()]

    async def get(self, template_id: str) -> TaskTemplate:
        templates = await anyio.to_thread.run_sync(self._load)
        try:
            return templates[template_id]
        except KeyError:
            raise TemplateLookupError(
                "unknown_template", template_id, f"no template with id {template_id!r}"
            ) from None


class _Once:
    """A value computed by exactly one task; every other asker waits for it."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.started = False
        self.value: Any = None
        self.error: BaseException | None = None


class TemplateCache:
    """Resolve template references (id or name) to :class:`TaskTemplate` values."""

    def __init__(
        self, source: TemplateSource, *, disk_dir: Path | None = None, ttl: float = 900.0
    ) -> None:
        self._source = source
        self._disk_dir = disk_dir
        self._ttl = ttl
        self._listing = _Once()
        self._templates: dict[str, _Once] = {}
        self.fetches = 0

    async def summaries(self) -> Sequence[TemplateSummary]:
        result: Sequence[TemplateSummary] = await self._once(self._listing, self._source.list)
        return result

    async def resolve(self, ref: str) -> TaskTemplate:
        """The template a row names, by id or unique name; raises TemplateLookupError."""
        template_id = await self._resolve_id(ref)
        once = self._templates.setdefault(template_id, _Once())
        template: TaskTemplate = await self._once(once, lambda: self._fetch(template_id))
        return template

    async def _resolve_id(self, ref: str) -> str:
        listing = await self.summaries()
        if any(t.id == ref for t in listing):
            return ref
        by_name = [t for t in listing if t.name == ref]
        if len(by_name) == 1:
            return by_name[0].id
        if len(by_name) > 1:
            active = [t for t in by_name if t.status == "ACTIVE"]
            if len(active) == 1:
                return active[0].id
            raise TemplateLookupError(
                "ambiguous_template",
                ref,
                f"template name {ref!r} matches {len(by_name)} templates; use the template id",
            )
        raise TemplateLookupError("unknown_template", ref, f"no template named {ref!r}")

    async def _fetch(self, template_id: str) -> TaskTemplate:
        cached = await anyio.to_thread.run_sync(self._read_disk, template_id)
        if cached is not None:
            return cached
        self.fetches += 1
        template = await self._source.get(template_id)
        await anyio.to_thread.run_sync(self._write_disk, template)
        log.debug("template.fetched", template_id=template_id)
        return template

    async def _once(self, once: _Once, compute: Callable[[], Awaitable[Any]]) -> Any:
        if not once.started:
            once.started = True
            try:
                once.value = await compute()
            except Exception as exc:
                once.error = exc
                raise
            except BaseException:
                once.error = RuntimeError("the template lookup was cancelled")
                raise
            finally:
                once.done.set()
        else:
            await once.done.wait()
        if once.error is not None:
            raise once.error
        return once.value

    def _disk_path(self, template_id: str) -> Path | None:
        if self._disk_dir is None:
            return None
        return self._disk_dir / f"{template_id}.json"

    def _read_disk(self, template_id: str) -> TaskTemplate | None:
        path = self._disk_path(template_id)
        if path is None or not path.exists():
            return None
        if time.time() - path.stat().st_mtime > self._ttl:
            return None
        try:
            return TaskTemplate.from_api(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            return None

    def _write_disk(self, template: TaskTemplate) -> None:
        path = self._disk_path(template.id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(template.to_api(), indent=2), encoding="utf-8")
        tmp.replace(path)


@dataclass(frozen=True, slots=True)
class TemplateOptions:
    """Where templates come from: a directory of GetTaskTemplate files (offline), or the API
    with an on-disk cache of ``ttl`` seconds."""

    templates_dir: Path | None = None
    cache_dir: Path | None = None
    ttl: float = 900.0

    @property
    def offline(self) -> bool:
        return self.templates_dir is not None


def template_cache_for(options: TemplateOptions, client: Any, instance_id: str) -> TemplateCache:
    """Offline from ``templates_dir``; else through ``client``, paced and retried."""
    if options.templates_dir is not None:
        return TemplateCache(DirTemplateSource(options.templates_dir))
    source = ApiTemplateSource(client, instance_id, call=retrying_call(Pacer(2.0, 5)))
    return TemplateCache(source, disk_dir=options.cache_dir, ttl=options.ttl)


@asynccontextmanager
async def open_template_cache(
    options: TemplateOptions, aws: AwsOptions, instance_id: Callable[[], str]
) -> AsyncIterator[TemplateCache]:
    """A template cache with its own Connect client (none at all when offline).

    ``instance_id`` is asked only when the API is used (it raises when none is set).
    """
    if options.templates_dir is not None:
        yield template_cache_for(options, None, "")
        return
    instance = instance_id()
    async with connect_client(aws) as client:
        yield template_cache_for(options, client, instance)
