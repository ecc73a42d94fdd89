"""ListContactFlows and ListQuickConnects: the instance's flows and quick connects, by name.

The world gives each resource an id and a name (:attr:`Instance.names`); every flow is a
published, active ``CONTACT_FLOW`` and every quick connect a ``QUEUE`` one, which is all that
resolving names in task templates needs. Pages follow the id order, as the model's paginators
expect (``NextToken`` in, ``NextToken`` out).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from taskloader.emulator.apierror import ApiError
from taskloader.emulator.backend import Backend
from taskloader.emulator.model import OperationSpec

DEFAULT_PAGE_SIZE = 100
FLOW_TYPE = "CONTACT_FLOW"
QUICK_CONNECT_TYPE = "QUEUE"


def list_contact_flows(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    types = p.get("ContactFlowTypes")
    ids = sorted(instance.contact_flows) if not types or FLOW_TYPE in types else []

    def summary(flow_id: str) -> dict[str, Any]:
        return {
            "Id": flow_id,
            "Arn": f"{instance.arn}/contact-flow/{flow_id}",
            "Name": instance.name_of(flow_id),
            "ContactFlowType": FLOW_TYPE,
            "ContactFlowState": "ACTIVE",
            "ContactFlowStatus": "PUBLISHED",
        }

    return _page(ids, p, "ContactFlowSummaryList", summary)


def list_quick_connects(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    types = p.get("QuickConnectTypes")
    ids = sorted(instance.quick_connects) if not types or QUICK_CONNECT_TYPE in types else []
    region = b.world.region

    def summary(quick_connect_id: str) -> dict[str, Any]:
        return {
            "Id": quick_connect_id,
            "Arn": f"{instance.arn}/transfer-destination/{quick_connect_id}",
            "Name": instance.name_of(quick_connect_id),
            "QuickConnectType": QUICK_CONNECT_TYPE,
            "LastModifiedRegion": region,
        }

    return _page(ids, p, "QuickConnectSummaryList", summary)


def _page(
    ids: Sequence[str],
    p: dict[str, Any],
    key: str,
    summary: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    start = _decode_token(p.get("NextToken"))
    limit = p.get("MaxResults") or DEFAULT_PAGE_SIZE
    page = ids[start : start + limit]
    out: dict[str, Any] = {key: [summary(i) for i in page]}
    if start + limit < len(ids):
        out["NextToken"] = base64.urlsafe_b64encode(f"at:{start + limit}".encode()).decode()
    return out


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "at" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise ApiError("InvalidRequestException", "NextToken is not valid.")
