"""Operations on existing contacts: Transfer, Update, Stop, ListContactReferences, Describe."""

from __future__ import annotations

from typing import Any

from taskloader.emulator.apierror import ApiError, not_found
from taskloader.emulator.attachments import reference_summary
from taskloader.emulator.backend import Backend
from taskloader.emulator.fields import (
    CREATABLE_REFERENCE_TYPES,
    MAX_REFERENCES_BYTES,
    check_reference_value,
    check_segment_attributes,
    expiry_seconds,
    references_size,
)
from taskloader.emulator.idempotency import request_digest, reused_token
from taskloader.emulator.model import OperationSpec

MAX_TRANSFERS = 11
_UPDATABLE = (
    "Name",
    "Description",
    "References",
    "SegmentAttributes",
    "QueueInfo",
    "UserInfo",
    "CustomerEndpoint",
    "SystemEndpoint",
)
#: UpdateContact members that "can only be updated for external audio contacts" (the model's
#: docs of QueueInfo, UserInfo, CustomerEndpoint and SystemEndpoint); every contact here is a task.
_EXTERNAL_AUDIO_ONLY = ("QueueInfo", "UserInfo", "CustomerEndpoint", "SystemEndpoint")
_SUMMARY_KEY = {
    "URL": "Url",
    "ATTACHMENT": "Attachment",
    "STRING": "String",
    "NUMBER": "Number",
    "DATE": "Date",
    "EMAIL": "Email",
    "EMAIL_MESSAGE": "EmailMessage",
}


def _user_id(user: str) -> str:
    """UserId may be an id or an agent ARN (…/agent/<id>)."""
    return user.rsplit("/", 1)[-1]


def transfer_contact(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    contact = b.contact(instance.id, p["ContactId"])
    queue_id, user = p.get("QueueId"), p.get("UserId")
    if queue_id and user:
        # TransferContact's docs: "Do not use both QueueId and UserId in the same call."
        raise ApiError("InvalidRequestException", "Pass QueueId or UserId, not both.")
    flow_id = p["ContactFlowId"]
    if flow_id not in instance.contact_flows:
        raise not_found("Contact flow", flow_id, f"instance {instance.id!r}")
    if queue_id and queue_id not in instance.queues:
        raise not_found("Queue", queue_id, f"instance {instance.id!r}")
    if user and _user_id(user) not in instance.users:
        raise not_found("User", user, f"instance {instance.id!r}")
    result = {"ContactId": contact.id, "ContactArn": contact.arn}
    token = p.get("ClientToken")
    digest = request_digest(p)
    if token is not None and token in contact.transfer_tokens:
        if contact.transfer_tokens[token] != digest:
            raise reused_token("TransferContact")
        return result
    if not contact.active:
        raise ApiError("InvalidRequestException", "Only active TASK contacts can be transferred.")
    if contact.transfers >= MAX_TRANSFERS:
        raise ApiError(
            "ServiceQuotaExceededException",
            f"A contact can be transferred at most {MAX_TRANSFERS} times.",
        )
    now = b.clock()
    contact.transfers += 1
    contact.contact_flow_id = flow_id
    if queue_id:
        contact.queue_id, contact.enqueued, contact.user_id = queue_id, now, None
    if user:
        contact.queue_id, contact.enqueued, contact.user_id = None, None, _user_id(user)
    contact.last_update = now
    if token is not None:
        contact.transfer_tokens[token] = digest
    b.state.save_contact(contact)
    return result


def update_contact(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    _check_active_region(b, instance.active_region, "update")
    contact = b.contact(instance.id, p["ContactId"])
    if not any(p.get(k) is not None for k in _UPDATABLE):
        raise ApiError("InvalidRequestException", "Pass at least one contact property to update.")
    for key in _EXTERNAL_AUDIO_ONLY:
        if p.get(key) is not None:
            raise ApiError(
                "InvalidRequestException",
                f"{key} can only be updated for external audio contacts, not TASK contacts.",
            )
    references = dict(contact.references)
    for key, ref in (p.get("References") or {}).items():
        if ref["Type"] not in CREATABLE_REFERENCE_TYPES:
            raise ApiError(
                "InvalidParameterException", f"References.{key}: type {ref['Type']} cannot be set."
            )
        value = ref.get("Value", "")
        problem = check_reference_value(ref["Type"], value)
        if problem:
            raise ApiError("InvalidParameterException", f"References.{key}.Value {problem}.")
        references[key] = {"Type": ref["Type"], "Value": value}
    if references_size(references) > MAX_REFERENCES_BYTES:
        raise ApiError(
            "InvalidParameterException",
            f"References must not exceed {MAX_REFERENCES_BYTES} UTF-8 bytes in total.",
        )
    segment = {**contact.segment_attributes, **(p.get("SegmentAttributes") or {})}
    problem = check_segment_attributes(segment)
    if problem:
        raise ApiError("InvalidParameterException", problem + ".")
    if p.get("Name") is not None:
        contact.name = p["Name"]
    if p.get("Description") is not None:
        contact.description = p["Description"]
    contact.references = references
    contact.segment_attributes = segment
    contact.last_update = b.clock()
    if contact.active and p.get("SegmentAttributes") is not None:
        contact.expiry_s = expiry_seconds(segment)
        b.state.schedule(contact)
    b.state.save_contact(contact)
    return {}


def stop_contact(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    """StopContact ends a task "in any state" (the model's docs); an ended one cannot be ended
    again (ContactNotFoundException, 410). The active-task quota is freed at once."""
    instance = b.instance(op, p["InstanceId"])
    _check_active_region(b, instance.active_region, "stop")
    contact = b.contact(instance.id, p["ContactId"])
    if not contact.active:
        raise ApiError(
            "ContactNotFoundException",
            f"Contact {contact.id!r} is not active: it has already ended.",
        )
    b.state.end(contact, b.clock())
    return {}


def _check_active_region(b: Backend, active_region: str | None, verb: str) -> None:
    if active_region and active_region != b.world.region:
        raise ApiError(
            "InvalidActiveRegionException",
            f"The instance's traffic is active in {active_region}, not in "
            f"{b.world.region}; {verb} the contact there.",
        )


def list_contact_references(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    contact = b.contact(instance.id, p["ContactId"])
    if p.get("NextToken") is not None:
        # The model says NextToken "is always returned as null": no token can be valid.
        raise ApiError("InvalidRequestException", "NextToken is not valid.")
    wanted = set(p["ReferenceTypes"])
    summaries = []
    for name, ref in contact.references.items():
        key = _SUMMARY_KEY.get(ref["Type"])
        if key is not None and ref["Type"] in wanted:
            summaries.append({key: {"Name": name, "Value": ref.get("Value", "")}})
    if "ATTACHMENT" in wanted:
        summaries += [reference_summary(a) for a in contact.attachments]
    return {"ReferenceSummaryList": summaries}


def describe_contact(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    c = b.contact(instance.id, p["ContactId"])
    out: dict[str, Any] = {
        "Arn": c.arn,
        "Id": c.id,
        # "If this contact is related to other contacts, this is the ID of the initial contact."
        "InitialContactId": c.initial_contact_id or c.id,
        "InitiationMethod": c.initiation_method,
        "Name": c.name,
        "Channel": "TASK",
        "InitiationTimestamp": round(c.created, 3),
        "LastUpdateTimestamp": round(c.last_update or c.created, 3),
        "Attributes": c.attributes,
        "SegmentAttributes": c.segment_attributes,
    }
    optional = {
        "Description": c.description,
        "PreviousContactId": c.previous_contact_id,
        "RelatedContactId": c.related_contact_id,
        "ScheduledTimestamp": c.scheduled_time,
        "DisconnectTimestamp": round(c.disconnected, 3) if c.disconnected else None,
        "QueueInfo": _queue_info(c.queue_id, c.enqueued),
        # AgentInfo is "the agent who accepted the contact": none does here (no routing).
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    if c.task_template_arn:
        out["TaskTemplateInfo"] = {"Arn": c.task_template_arn, "Name": c.task_template_name}
    return {"Contact": out}


def _queue_info(queue_id: str | None, enqueued: float | None) -> dict[str, Any] | None:
    if queue_id is None:
        return None
    info: dict[str, Any] = {"Id": queue_id}
    if enqueued is not None:
        info["EnqueueTimestamp"] = round(enqueued, 3)
    return info
