"""The task template operations of one instance, paced and retried like every other call.

Each call goes through :func:`taskloader.templates.cache.retrying_call` with one shared
:class:`~taskloader.connect.pacing.Pacer` (the template operations' quota is 2 requests/s, burst
5 by default): a throttle slows the pacer, transient errors are retried with backoff, and a call
that still fails raises :class:`~taskloader.errors.FatalApiError` saying what was being done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from taskloader.connect.pacing import Pacer
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import FatalApiError
from taskloader.templates.cache import ApiTemplateSource, TemplateSummary, retrying_call
from taskloader.templates.request import Catalog


def _plain(value: Any) -> Any:
    """A botocore answer as JSON values (timestamps as ISO 8601 text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class InstanceTemplates:
    """List, read, create, update and delete the task templates of ``instance_id``."""

    def __init__(self, client: Any, instance_id: str, *, pacer: Pacer, policy: RetryPolicy) -> None:
        self._client = client
        self.instance_id = instance_id
        self._pacer = pacer
        self._policy = policy

    async def _call(self, action: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        return await retrying_call(self._pacer, self._policy, action=action)(fn)

    async def summaries(self) -> Sequence[TemplateSummary]:
        caller = retrying_call(self._pacer, self._policy, action="listing task templates")
        return await ApiTemplateSource(self._client, self.instance_id, call=caller).list()

    async def catalog(self) -> Catalog:
        """The instance's flows and quick connects (ListContactFlows, ListQuickConnects)."""
        flows = await self._listing("list_contact_flows", "ContactFlowSummaryList", "flows")
        quick = await self._listing(
            "list_quick_connects", "QuickConnectSummaryList", "quick connects"
        )
        return Catalog(flows=flows, quick_connects=quick)

    async def _listing(self, method: str, key: str, what: str) -> dict[str, str]:
        found: dict[str, str] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"InstanceId": self.instance_id, "MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token

            async def page(kwargs: dict[str, Any] = kwargs) -> Any:
                return await getattr(self._client, method)(**kwargs)

            response = await self._call(f"listing the instance's {what}", page)
            found.update((s["Id"], s.get("Name", s["Id"])) for s in response.get(key, ()))
            token = response.get("NextToken")
            if not token:
                return found

    async def get(self, template_id: str, name: str) -> dict[str, Any]:
        """GetTaskTemplate's answer, as JSON values (the API form)."""

        async def fetch() -> Any:
            return await self._client.get_task_template(
                InstanceId=self.instance_id, TaskTemplateId=template_id
            )

        return dict(_plain(await self._call(f"reading task template {name!r}", fetch)))

    async def create(self, request: dict[str, Any], token: str) -> str:
        """CreateTaskTemplate with ``token`` as its ClientToken; the new template's id."""

        async def send() -> Any:
            return await self._client.create_task_template(
                InstanceId=self.instance_id, ClientToken=token, **request
            )

        response = await self._call(f"creating task template {request['Name']!r}", send)
        return str(response["Id"])

    async def update(self, template_id: str, request: dict[str, Any]) -> None:
        """UpdateTaskTemplate: a full replace (the same request again changes nothing)."""

        async def send() -> Any:
            return await self._client.update_task_template(
                InstanceId=self.instance_id, TaskTemplateId=template_id, **request
            )

        await self._call(f"updating task template {request['Name']!r}", send)

    async def delete(self, template_id: str, name: str) -> None:
        """DeleteTaskTemplate; a template that is already gone counts as deleted."""

        async def send() -> Any:
            return await self._client.delete_task_template(
                InstanceId=self.instance_id, TaskTemplateId=template_id
            )

        try:
            await self._call(f"deleting task template {name!r}", send)
        except FatalApiError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
