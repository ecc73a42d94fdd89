"""The ``/_emulator/`` inspection and control endpoints (no auth, never throttled or faulted).

Only for the local machine: :mod:`taskloader.emulator.guard` checks Host, Origin and
Content-Type first.

GET  /_emulator/stats            counters (see docs/emulator.md)
GET  /_emulator/contacts         every contact created
GET  /_emulator/world            instances and their resources
GET  /_emulator/config           the runtime configuration
POST /_emulator/config           change quotas, limits and faults at runtime
POST /_emulator/reset            forget contacts, templates and counters ({"settings": true}
                                 also restores the start-up quotas, limits and faults)
POST /_emulator/complete-tasks   end every active task
POST /_emulator/delete-contact   forget one contact ({"contact_id": ...}): a task that was lost
POST /_emulator/expire-credentials  expire session tokens now ({"access_key_ids": [...]})
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from taskloader.emulator.backend import Backend
from taskloader.emulator.guard import admin_refusal
from taskloader.emulator.model import model_source
from taskloader.errors import UsageError

#: Called after a reset to put preloaded templates back; set by the runner.
Preload = Callable[[Backend], None]
PRELOAD_KEY = web.AppKey("preload", list[Preload])


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise UsageError("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise UsageError("body must be a JSON object")
    return data


Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(app: web.Application, backend: Backend) -> None:
    app[PRELOAD_KEY] = []
    bound_host = backend.settings.host

    def guarded(handler: Handler) -> Handler:
        async def guard(request: web.Request) -> web.Response:
            refusal = admin_refusal(request, bound_host)
            if refusal is not None:
                return _json({"Message": refusal[1]}, status=refusal[0])
            try:
                return await handler(request)
            except web.HTTPRequestEntityTooLarge:
                return _json({"Message": "The request body is too large."}, status=413)

        return guard

    async def stats(request: web.Request) -> web.Response:
        return _json(backend.stats())

    async def contacts(request: web.Request) -> web.Response:
        return _json(backend.contacts_json())

    async def world(request: web.Request) -> web.Response:
        return _json({**backend.world.to_json(), "model": model_source()})

    async def get_config(request: web.Request) -> web.Response:
        return _json(backend.config_json())

    async def post_config(request: web.Request) -> web.Response:
        try:
            backend.configure(await _body(request))
        except UsageError as exc:
            return _json({"Message": str(exc)}, status=400)
        return _json(backend.config_json())

    async def reset(request: web.Request) -> web.Response:
        try:
            body = await _body(request)
        except UsageError as exc:
            return _json({"Message": str(exc)}, status=400)
        backend.generation += 1
        backend.state.reset()
        backend.quotas.reset()
        backend.expired_keys = frozenset()
        if body.get("settings"):
            backend.restore_settings()
        for preload in request.app[PRELOAD_KEY]:
            preload(backend)
        return _json({"reset": True})

    async def complete_tasks(request: web.Request) -> web.Response:
        backend.expire()
        ended = backend.state.complete_all(backend.clock())
        return _json({"completed": ended})

    async def delete_contact(request: web.Request) -> web.Response:
        try:
            body = await _body(request)
        except UsageError as exc:
            return _json({"Message": str(exc)}, status=400)
        if not backend.state.forget(str(body.get("contact_id"))):
            return _json({"Message": "no such contact"}, status=404)
        return _json({"deleted": body["contact_id"]})

    async def expire_credentials(request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            expired = backend.expire_credentials(body.get("access_key_ids"))
        except UsageError as exc:
            return _json({"Message": str(exc)}, status=400)
        return _json({"expired": expired})

    app.router.add_get("/_emulator/stats", guarded(stats))
    app.router.add_get("/_emulator/contacts", guarded(contacts))
    app.router.add_get("/_emulator/world", guarded(world))
    app.router.add_get("/_emulator/config", guarded(get_config))
    app.router.add_post("/_emulator/config", guarded(post_config))
    app.router.add_post("/_emulator/reset", guarded(reset))
    app.router.add_post("/_emulator/complete-tasks", guarded(complete_tasks))
    app.router.add_post("/_emulator/expire-credentials", guarded(expire_credentials))
    app.router.add_post("/_emulator/delete-contact", guarded(delete_contact))
