"""The aiohttp application: routes from the model, the request pipeline, error rendering.

Per request: body (413 past the size limit) -> caller (SigV4, see sigv4.py) -> injected faults
-> rate quota -> JSON -> bind members -> model checks -> the operation. Every outcome is a
modelled response; a bug in an operation becomes a logged InternalServiceException, never a
traceback on the wire.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import structlog
from aiohttp import web

from taskloader.emulator import admin, ops_contacts, ops_resources, ops_start, ops_templates
from taskloader.emulator.apierror import PROTOCOL_STATUS, ApiError, property_error
from taskloader.emulator.backend import Backend
from taskloader.emulator.model import OperationSpec
from taskloader.emulator.sigv4 import CALLER, SignedRequest, identify
from taskloader.emulator.validate import Violation

log = structlog.get_logger(__name__)

Operation = Callable[[Backend, OperationSpec, dict[str, Any]], dict[str, Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Operation name -> implementation. Tests may swap an entry before creating the app.
OPERATIONS: dict[str, Operation] = {
    "StartTaskContact": ops_start.start_task_contact,
    "CreateTaskTemplate": ops_templates.create_task_template,
    "GetTaskTemplate": ops_templates.get_task_template,
    "ListTaskTemplates": ops_templates.list_task_templates,
    "UpdateTaskTemplate": ops_templates.update_task_template,
    "DeleteTaskTemplate": ops_templates.delete_task_template,
    "TransferContact": ops_contacts.transfer_contact,
    "UpdateContact": ops_contacts.update_contact,
    "ListContactReferences": ops_contacts.list_contact_references,
    "DescribeContact": ops_contacts.describe_contact,
    "StopContact": ops_contacts.stop_contact,
    "ListContactFlows": ops_resources.list_contact_flows,
    "ListQuickConnects": ops_resources.list_quick_connects,
}

#: Largest request body; a larger one is 413 RequestEntityTooLargeException (AWS common errors).
MAX_BODY_BYTES = 4 * 1024 * 1024

BACKEND_KEY = web.AppKey("backend", Backend)
SHUTDOWN_KEY = web.AppKey("shutdown", asyncio.Event)


class _NoReply(Exception):
    """Close the connection without answering (the "drop" and "hang" faults)."""


def error_response(backend: Backend, err: ApiError, request_id: str) -> web.Response:
    status = backend.spec.error_status.get(err.code) or PROTOCOL_STATUS.get(err.code, 400)
    return web.Response(
        status=status,
        body=json.dumps(err.body()).encode(),
        content_type="application/json",
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code},
    )


def _violation_error(op: OperationSpec, v: Violation) -> ApiError:
    if v.kind == "type":
        return ApiError("SerializationException", f"Value at '{v.member}': {v.constraint}.")
    root = v.path[-1] if v.path else ""
    code = op.validation_error
    if code == "PropertyValidationException" and root in op.body_members:
        reason = "REQUIRED_PROPERTY_MISSING" if v.missing else "INVALID_FORMAT"
        return property_error(v.member, reason, v.describe())
    return ApiError(
        op.pick_error("InvalidParameterException", "InvalidRequestException"), v.describe()
    )


def _operation_handler(backend: Backend, op: OperationSpec, impl: Operation) -> Handler:
    name = op.name
    shutdown_s = backend.settings.hang_max_s

    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        state = backend.state
        generation = backend.generation
        try:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(
                    "RequestEntityTooLargeException",
                    f"The request body is larger than {MAX_BODY_BYTES} bytes.",
                ) from None
            signed = SignedRequest(request.method, request.raw_path, request.headers, raw)
            caller = identify(backend.world, signed, backend.clock(), backend.expired_keys)
            CALLER.set(caller)
            state.requests_by_access_key[caller.access_key] += 1
            if caller.access_key in backend.world.denied_access_keys:
                raise ApiError(
                    "AccessDeniedException", f"You are not authorized to perform {name}."
                )
            if backend.faults.enabled:
                await _inject(backend, name, request, shutdown_s, generation)
            if backend.generation != generation:
                raise _NoReply("stale")  # begun before a reset: acts on nothing, counts nowhere
            if not backend.quotas.allow(name):
                state.throttled += 1
                raise ApiError("ThrottlingException", "Rate exceeded")
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                raise ApiError(
                    "SerializationException", "The request body is not valid JSON."
                ) from None
            if not isinstance(body, dict):
                raise ApiError("SerializationException", "The request body must be a JSON object.")
            params = op.bind(body, request.match_info, request.query)
            op.check(params)
            if backend.generation != generation:
                raise _NoReply("stale")  # (the body was read across a reset)
            result = impl(backend, op, params)
        except ApiError as err:
            response = error_response(backend, err, request_id)
        except Violation as v:
            response = error_response(backend, _violation_error(op, v), request_id)
        except _NoReply as no_reply:
            if backend.generation == generation:  # (one begun before a reset counts nowhere)
                state.requests[name][str(no_reply)] += 1
            _close(request)
            # The connection is gone, so aiohttp drops this response quietly.
            return web.Response(status=204)
        except Exception:
            log.exception("emulator.internal_error", operation=name, request_id=request_id)
            bug = ApiError("InternalServiceException", "An internal error occurred (emulator bug).")
            response = error_response(backend, bug, request_id)
        else:
            response = web.Response(
                body=json.dumps(result).encode(),
                content_type="application/json",
                headers={"x-amzn-RequestId": request_id},
            )
        if backend.generation == generation:
            state.requests[name][str(response.status)] += 1
        return response

    return handle


async def _inject(
    backend: Backend, name: str, request: web.Request, hang_max_s: float, generation: int
) -> None:
    decision = backend.faults.decide()
    if decision.delay_s:
        await anyio.sleep(decision.delay_s)
    fault = decision.fault
    if fault is None or backend.generation != generation:
        return  # (a request begun before a reset is dropped by the handler, uncounted)
    backend.state.faults[fault] += 1
    if fault == "throttle":
        backend.state.throttled += 1
        raise ApiError("ThrottlingException", "Rate exceeded")
    if fault == "error_500":
        raise ApiError("InternalServiceException", "Internal service error (injected fault).")
    if fault == "error_503":
        raise ApiError("ServiceUnavailableException", "Service unavailable (injected fault).")
    if fault == "hang":
        with anyio.move_on_after(hang_max_s):
            await request.app[SHUTDOWN_KEY].wait()
        if backend.generation != generation:
            raise _NoReply("stale")
        raise _NoReply("hung")
    raise _NoReply("dropped")


def _close(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _unknown(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND_KEY]
    backend.state.requests["UnknownOperation"]["404"] += 1
    err = ApiError(
        "UnknownOperationException", f"No operation matches {request.method} {request.path}."
    )
    return error_response(backend, err, str(uuid.uuid4()))


def create_app(
    backend: Backend, operations: Mapping[str, Operation] | None = None
) -> web.Application:
    """The emulator's aiohttp application; routes come from the service model."""
    impls = operations or OPERATIONS
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[BACKEND_KEY] = backend
    app[SHUTDOWN_KEY] = asyncio.Event()
    admin.add_routes(app, backend)
    for op in backend.spec.operations.values():
        app.router.add_route(op.method, op.path, _operation_handler(backend, op, impls[op.name]))
    app.router.add_route("*", "/{tail:.*}", _unknown)
    return app
