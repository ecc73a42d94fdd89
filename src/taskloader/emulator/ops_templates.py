"""Task template operations: Create, Get, List, Update (full replace) and Delete."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any

from taskloader.emulator.apierror import ApiError, not_found, property_error
from taskloader.emulator.backend import Backend
from taskloader.emulator.fields import (
    FIELD_REFERENCE_TYPE,
    check_field_value,
    check_reference_value,
)
from taskloader.emulator.idempotency import request_digest, reused_token
from taskloader.emulator.model import OperationSpec
from taskloader.emulator.records import TemplateRecord
from taskloader.emulator.world import Instance

MAX_TEMPLATES_PER_INSTANCE = 50
MAX_FIELDS_PER_TEMPLATE = 50
DEFAULT_PAGE_SIZE = 100

#: Request members copied into the stored template document as they are.
_CONTENT = ("Description", "ContactFlowId", "SelfAssignFlowId", "Constraints", "Defaults", "Fields")
_METADATA = ("Id", "Arn", "Name", "Description", "Status", "LastModifiedTime", "CreatedTime")


def create_task_template(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    templates = b.state.templates[instance.id]
    token = p.get("ClientToken")
    digest = request_digest(p)
    if token:
        for record in templates.values():
            first = record.versions[0]
            if first.get("_ClientToken") == token:
                if first.get("_RequestDigest", digest) != digest:
                    raise reused_token("CreateTaskTemplate")
                return {"Id": record.id, "Arn": record.arn}
    if len(templates) >= MAX_TEMPLATES_PER_INSTANCE:
        raise ApiError(
            "ServiceQuotaExceededException",
            f"Instance already has {MAX_TEMPLATES_PER_INSTANCE} task templates (the maximum).",
        )
    _check_content(b, instance, p, exclude_id=None)
    template_id = str(p.get("_Id") or uuid.uuid4())
    arn = f"{instance.arn}/task-template/{template_id}"
    now = round(b.clock(), 3)
    doc = _document(p, template_id, arn, p.get("Name"), p.get("Status") or "ACTIVE", now, now)
    if token:
        doc["_ClientToken"] = token
        doc["_RequestDigest"] = digest
    b.state.template_seq += 1
    record = TemplateRecord(instance.id, template_id, arn, b.state.template_seq, [doc])
    b.state.save_template(record)
    return {"Id": template_id, "Arn": arn}


def get_task_template(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    record = _template(b, instance, p["TaskTemplateId"])
    doc = record.current
    version = p.get("SnapshotVersion")
    if version is not None:
        if not version.isdigit():
            raise ApiError("InvalidRequestException", "SnapshotVersion is not a valid version.")
        n = int(version)
        if not 1 <= n <= record.version:
            raise not_found("SnapshotVersion", version, f"task template {record.id!r}")
        doc = record.versions[n - 1]
    return {"InstanceId": instance.id, **_public(doc)}


def list_task_templates(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    after = _decode_token(p.get("NextToken"))
    limit = p.get("MaxResults") or DEFAULT_PAGE_SIZE
    name, status = p.get("Name"), p.get("Status")
    matching = [
        r
        for r in sorted(b.state.templates[instance.id].values(), key=lambda r: r.seq)
        if r.seq > after
        and (name is None or r.current["Name"] == name)
        and (status is None or r.current["Status"] == status)
    ]
    page = matching[:limit]
    out: dict[str, Any] = {
        "TaskTemplates": [{k: r.current[k] for k in _METADATA if k in r.current} for r in page]
    }
    if len(matching) > limit:
        out["NextToken"] = base64.urlsafe_b64encode(f"seq:{page[-1].seq}".encode()).decode()
    return out


def update_task_template(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    record = _template(b, instance, p["TaskTemplateId"])
    _check_content(b, instance, p, exclude_id=record.id)
    old = record.current
    # A full replacement: members left out are cleared, except Name and Status, which a
    # template always has.
    doc = _document(
        p,
        record.id,
        record.arn,
        p.get("Name") or old["Name"],
        p.get("Status") or old["Status"],
        old["CreatedTime"],
        round(b.clock(), 3),
    )
    record.versions.append(doc)
    b.state.save_template(record)
    return {"InstanceId": instance.id, **_public(doc)}


def delete_task_template(b: Backend, op: OperationSpec, p: dict[str, Any]) -> dict[str, Any]:
    instance = b.instance(op, p["InstanceId"])
    record = _template(b, instance, p["TaskTemplateId"])
    b.state.delete_template(record)
    return {}


# -- helpers -------------------------------------------------------------------------------


def _template(b: Backend, instance: Instance, template_id: str) -> TemplateRecord:
    record = b.state.templates[instance.id].get(template_id)
    if record is None:
        raise not_found("Task template", template_id, f"instance {instance.id!r}")
    return record


def _public(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _document(
    p: Mapping[str, Any],
    template_id: str,
    arn: str,
    name: Any,
    status: str,
    created: float,
    modified: float,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"Id": template_id, "Arn": arn, "Name": name}
    for key in _CONTENT:
        if p.get(key) is not None:
            doc[key] = p[key]
    doc.setdefault("Fields", [])
    doc.setdefault("Constraints", {})
    doc.setdefault("Defaults", {})
    doc["Status"] = status
    doc["CreatedTime"] = created
    doc["LastModifiedTime"] = modified
    return doc


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, _, value = text.partition(":")
        if kind == "seq" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise ApiError("InvalidRequestException", "NextToken is not valid.")


def _check_content(
    b: Backend, instance: Instance, p: Mapping[str, Any], exclude_id: str | None
) -> None:
    """Template rules beyond the model's shapes -> PropertyValidationException."""
    fields: list[dict[str, Any]] = p.get("Fields") or []
    if len(fields) > MAX_FIELDS_PER_TEMPLATE:
        raise ApiError(
            "ServiceQuotaExceededException",
            f"A task template can have at most {MAX_FIELDS_PER_TEMPLATE} fields.",
        )
    by_name: dict[str, dict[str, Any]] = {}
    for i, f in enumerate(fields):
        name = f["Id"].get("Name")
        if not name:
            raise property_error(
                f"Fields[{i}].Id.Name", "REQUIRED_PROPERTY_MISSING", "Field name is required."
            )
        if name in by_name:
            raise property_error(
                f"Fields[{i}].Id.Name",
                "UNIQUE_CONSTRAINT_VIOLATED",
                f"Field {name!r} is defined twice.",
            )
        if not f.get("Type"):
            raise property_error(
                f"Fields[{i}].Type", "REQUIRED_PROPERTY_MISSING", "Field type is required."
            )
        if f["Type"] == "SINGLE_SELECT" and not f.get("SingleSelectOptions"):
            raise property_error(
                f"Fields[{i}].SingleSelectOptions",
                "REQUIRED_PROPERTY_MISSING",
                "A SINGLE_SELECT field needs SingleSelectOptions.",
            )
        by_name[name] = f
    for key in ("RequiredFields", "ReadOnlyFields", "InvisibleFields"):
        for i, item in enumerate((p.get("Constraints") or {}).get(key) or ()):
            name = (item.get("Id") or {}).get("Name")
            if name not in by_name:
                raise property_error(
                    f"Constraints.{key}[{i}].Id.Name",
                    "REFERENCED_RESOURCE_NOT_FOUND",
                    "Constraint names a field that the template does not define.",
                )
    for i, item in enumerate((p.get("Defaults") or {}).get("DefaultFieldValues") or ()):
        path = f"Defaults.DefaultFieldValues[{i}]"
        field = by_name.get(str((item.get("Id") or {}).get("Name")))
        if field is None:
            raise property_error(
                f"{path}.Id.Name",
                "REFERENCED_RESOURCE_NOT_FOUND",
                "Default names a field that the template does not define.",
            )
        value = item.get("DefaultValue") or ""
        ref_type = FIELD_REFERENCE_TYPE.get(field["Type"])
        problem = check_field_value(field, value) or (
            check_reference_value(ref_type, value) if ref_type and value else None
        )
        if problem:
            raise property_error(
                f"{path}.DefaultValue", "INVALID_FORMAT", f"DefaultValue {problem}."
            )
    for key in ("ContactFlowId", "SelfAssignFlowId"):
        flow = p.get(key)
        if flow and flow not in instance.contact_flows:
            raise property_error(
                key, "REFERENCED_RESOURCE_NOT_FOUND", f"Contact flow {flow!r} was not found."
            )
    name = p.get("Name")
    if name is not None:
        for record in b.state.templates[instance.id].values():
            if record.id != exclude_id and record.current["Name"] == name:
                raise property_error(
                    "Name",
                    "RESOURCE_NAME_ALREADY_EXISTS",
                    f"A task template named {name!r} exists.",
                )
