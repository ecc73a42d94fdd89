"""StartTaskContact: flow choice, template fields, sizes, schedule, chains, idempotency, quotas."""

from __future__ import annotations

import uuid
from typing import Any

from taskloader.emulator.apierror import ApiError, not_found
from taskloader.emulator.attachments import check_attachments
from taskloader.emulator.backend import Backend
from taskloader.emulator.fields import (
    CREATABLE_REFERENCE_TYPES,
    FIELD_MEMBER,
    FIELD_REFERENCE_TYPE,
    MAX_REFERENCES_BYTES,
    check_attributes,
    check_field_value,
    check_reference_value,
    check_segment_attributes,
    expiry_seconds,
    references_size,
)
from taskloader.emulator.idempotency import request_digest, reused_token
from taskloader.emulator.model import OperationSpec
from taskloader.emulator.records import ContactRecord, TemplateRecord
from taskloader.emulator.world import Instance

MAX_TASKS_PER_PREVIOUS_CONTACT = 12
#: ScheduledTime may lie this far in the past (clock skew; botocore truncates to seconds).
SCHEDULE_SKEW_S = 60.0


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidParameterException", message)


def start_task_contact(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    now = b.clock()
    token = p.get("ClientToken")
    digest = request_digest(p)
    if token is not None:
        seen = b.state.tokens.get((instance.id, token))
        if seen is not None and now - seen[1] < b.idempotency_window_s:
            if seen[2] is not None and seen[2] != digest:
                raise reused_token("StartTaskContact")
            b.state.idempotent_replays += 1
            return {"ContactId": seen[0]}

    template = _flow_and_template(b, instance, p)
    references: dict[str, dict[str, Any]] = {
        k: {"Type": r["Type"], "Value": r.get("Value", "")}
        for k, r in (p.get("References") or {}).items()
    }
    for key, ref in references.items():
        if ref["Type"] not in CREATABLE_REFERENCE_TYPES:
            raise _invalid(
                f"References.{key}: type {ref['Type']} cannot be set when a task is created."
            )
        problem = check_reference_value(ref["Type"], ref["Value"])
        if problem:
            raise _invalid(f"References.{key}.Value {problem}.")
    if template is not None:
        _apply_template(template.current, p, references)
    if references_size(references) > MAX_REFERENCES_BYTES:
        raise _invalid(f"References must not exceed {MAX_REFERENCES_BYTES} UTF-8 bytes in total.")

    attributes: dict[str, str] = dict(p.get("Attributes") or {})
    related_id = p.get("RelatedContactId")
    if related_id is not None:
        related = b.contact(instance.id, related_id)
        attributes = {**related.attributes, **attributes}
    problem = check_attributes(attributes)
    if problem:
        raise _invalid(problem + ".")
    segment = p.get("SegmentAttributes") or {}
    problem = check_segment_attributes(segment)
    if problem:
        raise _invalid(problem + ".")
    attachments = check_attachments(p.get("Attachments"), now)

    scheduled = p.get("ScheduledTime")
    if scheduled is not None:
        if scheduled < now - SCHEDULE_SKEW_S:
            raise _invalid("ScheduledTime must not be in the past.")
        if scheduled > now + b.schedule_horizon_s:
            days = b.schedule_horizon_s / 86_400
            raise _invalid(f"ScheduledTime must be at most {days:g} days in the future.")

    previous_id = p.get("PreviousContactId")
    initial_id: str | None = None
    if previous_id is not None:
        # DescribeContact's InitialContactId: "the ID of the initial contact" of a chain
        previous = b.contact(instance.id, previous_id)
        initial_id = previous.initial_contact_id or previous.id
        if b.state.chain_counts[previous_id] >= MAX_TASKS_PER_PREVIOUS_CONTACT:
            raise ApiError(
                "ServiceQuotaExceededException",
                f"{MAX_TASKS_PER_PREVIOUS_CONTACT} tasks already share this PreviousContactId "
                "(the maximum per chain).",
            )
    b.expire()
    limit = b.active_task_limit
    if limit is not None and b.state.active_count(instance.id) >= limit:
        raise ApiError(
            "ServiceQuotaExceededException",
            f"The instance has reached its quota of {limit} concurrent active tasks.",
        )

    contact_id = str(uuid.uuid4())
    contact = ContactRecord(
        id=contact_id,
        arn=b.contact_arn(instance.id, contact_id),
        instance_id=instance.id,
        name=p["Name"],
        created=now,
        description=p.get("Description"),
        client_token=token,
        request_digest=digest,
        initial_contact_id=initial_id,
        contact_flow_id=p.get("ContactFlowId")
        or (template.current.get("ContactFlowId") if template else None),
        quick_connect_id=p.get("QuickConnectId"),
        task_template_id=template.id if template else None,
        task_template_version=template.version if template else None,
        task_template_arn=template.arn if template else None,
        task_template_name=template.current["Name"] if template else None,
        references=references,
        attachments=attachments,
        attributes=attributes,
        segment_attributes=segment,
        scheduled_time=scheduled,
        expiry_s=expiry_seconds(segment),
        previous_contact_id=previous_id,
        related_contact_id=related_id,
        last_update=now,
    )
    b.state.add_contact(contact)
    return {"ContactId": contact_id}


def _flow_and_template(b: Backend, instance: Instance, p: dict[str, Any]) -> TemplateRecord | None:
    """Exactly one flow source: ContactFlowId, QuickConnectId, or the template's own flow.

    StartTaskContact's page: "include only one of these parameters: ContactFlowID,
    QuickConnectID, or TaskTemplateID. Only one parameter is required as long as the task
    template has a flow configured to run it. If more than one parameter is specified, or only
    the TaskTemplateID is specified but it does not have a flow configured, the request returns
    an error". A template without a flow therefore takes one of the other two beside it.
    """
    flow_id = p.get("ContactFlowId") or None
    quick_connect_id = p.get("QuickConnectId") or None
    template_id = p.get("TaskTemplateId")
    if flow_id and quick_connect_id:
        raise ApiError(
            "InvalidRequestException",
            "Pass only one of ContactFlowId, QuickConnectId or TaskTemplateId.",
        )
    if flow_id and flow_id not in instance.contact_flows:
        raise not_found("Contact flow", flow_id, f"instance {instance.id!r}")
    if quick_connect_id and quick_connect_id not in instance.quick_connects:
        raise not_found("Quick connect", quick_connect_id, f"instance {instance.id!r}")
    template = None
    if template_id is not None:
        template = b.state.templates[instance.id].get(template_id)
        if template is None:
            raise not_found("Task template", template_id, f"instance {instance.id!r}")
        if template.current["Status"] != "ACTIVE":
            raise ApiError(
                "InvalidRequestException",
                f"Task template {template_id!r} is INACTIVE; tasks need an ACTIVE template.",
            )
    own_flow = template is not None and bool(template.current.get("ContactFlowId"))
    if own_flow and (flow_id or quick_connect_id):
        raise ApiError(
            "InvalidRequestException",
            "Pass only one of ContactFlowId, QuickConnectId or TaskTemplateId: the task "
            "template has its own flow.",
        )
    if not (flow_id or quick_connect_id or own_flow):
        if template is None:
            raise ApiError(
                "InvalidRequestException",
                "One of ContactFlowId, QuickConnectId or TaskTemplateId is required.",
            )
        raise ApiError(
            "InvalidRequestException",
            "The task template has no ContactFlowId; pass ContactFlowId or QuickConnectId.",
        )
    return template


def _apply_template(
    doc: dict[str, Any], p: dict[str, Any], references: dict[str, dict[str, Any]]
) -> None:
    """Check references against the template's fields, fill in defaults, enforce required."""
    fields = {f["Id"]["Name"]: f for f in doc.get("Fields") or ()}
    defaults = {
        d["Id"]["Name"]: d.get("DefaultValue", "")
        for d in (doc.get("Defaults") or {}).get("DefaultFieldValues") or ()
    }
    for key, ref in references.items():
        field = fields.get(key)
        if field is None:
            continue
        expected = FIELD_REFERENCE_TYPE.get(field["Type"])
        if expected is None:
            raise _invalid(
                f"References.{key}: field type {field['Type']} is not set by a reference."
            )
        if ref["Type"] != expected:
            raise _invalid(
                f"References.{key}: a {field['Type']} field needs a {expected} reference, "
                f"not {ref['Type']}."
            )
        problem = check_field_value(field, ref["Value"])
        if problem:
            raise _invalid(f"References.{key}.Value {problem}.")
    for name, value in defaults.items():
        field = fields[name]
        expected = FIELD_REFERENCE_TYPE.get(field["Type"])
        if expected and name not in references and value:
            references[name] = {"Type": expected, "Value": value}
    for item in (doc.get("Constraints") or {}).get("RequiredFields") or ():
        name = item["Id"]["Name"]
        field = fields.get(name)
        if field is None:
            continue
        member = FIELD_MEMBER.get(field["Type"])
        present = p.get(member) not in (None, "") if member else name in references
        if not present and not defaults.get(name):
            where = member or f"References.{name}"
            raise _invalid(f"Required template field {name!r} is missing ({where}).")
