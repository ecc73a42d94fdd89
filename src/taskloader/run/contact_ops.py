"""The operations on existing contacts: UpdateContact, TransferContact, StopContact.

A row is a ``contact_id`` plus the operation's columns (from a file, or from an import's ledger
with the values given as flags). :func:`contact_request` turns one into the API's parameters or
into the problems that make it invalid; it is pure and runs at the pre-flight pass (staging)
and again at the send pass (rebuilding the row from the ledger).

Default quotas (per account and Region, Amazon Connect's API quota table; see
docs/architecture.md "Operations"): TransferContact 2/s burst 5 (the default of every API not
listed), UpdateContact and StopContact 10/s burst 15 (listed exceptions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from taskloader.input.readers import fold
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.outcome import result_columns
from taskloader.mapping.plan import PARAM, Plan, build_plan
from taskloader.mapping.rules import Code, Problem
from taskloader.run.operation import ContactOperation
from taskloader.run.verify import VERIFY
from taskloader.templates.model import TaskTemplate

UPDATE = ContactOperation("update", "UpdateContact", "update_contact", 10.0, 15, client_token=False)
#: TransferContact takes a ClientToken: a resend after a lost answer is the same transfer.
#: ServiceQuotaExceededException there is the task's 11 transfers: the row's failure.
TRANSFER = ContactOperation(
    "transfer", "TransferContact", "transfer_contact", 2.0, 5, client_token=True, quota_is_row=True
)
#: StopContact has no ClientToken: "no longer active" after a lost answer is the stop done.
STOP = ContactOperation(
    "stop", "StopContact", "stop_contact", 10.0, 15, client_token=False,
    settled_by=frozenset({"contact_not_active"}),
)  # fmt: skip

OPERATIONS = {op.name: op for op in (UPDATE, TRANSFER, STOP, VERIFY)}

#: Every operation's columns besides ``contact_id`` (``ref.<name>`` too for update).
COLUMNS: dict[str, tuple[str, ...]] = {
    "update": ("name", "description", "template"),
    "transfer": ("queue_id", "user_id", "contact_flow_id"),
    "stop": (),
    "verify": ("key", "expected"),
}

MAX_CONTACT_ID = 256
#: Date-times without an offset read as UTC, in the formats the import always accepts.
UTC_TIMES = MappingConfig()
MAX_NAME = 1024
MAX_DESCRIPTION = 4096
MAX_ID = 500


def contact_key(values: Mapping[str, Any]) -> str | None:
    """The row's ``contact_id`` (its key in the operation's ledger), None when blank."""
    value = _text(values, "contact_id")
    return value or None


def contact_request(
    op: ContactOperation,
    values: Mapping[str, Any],
    template: TaskTemplate | Problem | None = None,
    times: MappingConfig = UTC_TIMES,
) -> tuple[dict[str, Any], list[Problem]]:
    """The request of ``op`` for one row (without InstanceId/ClientToken), or its problems.
    ``template`` (update) is the row's template: its field names are columns too, their values
    read as the import reads them (``times``: its time zone and date format)."""
    problems: list[Problem] = []
    if isinstance(template, Problem):
        problems.append(template)
        template = None
    fields = _field_columns(values, template) if op.name == "update" else ()
    contact = contact_key(values)
    if contact is None:
        problems.append(_problem(Code.REQUIRED_FIELD_MISSING, "contact_id", "is empty"))
    elif len(contact) > MAX_CONTACT_ID:
        problems.append(
            _problem(Code.VALUE_TOO_LONG, "contact_id", f"is over {MAX_CONTACT_ID} characters")
        )
    params: dict[str, Any] = {"ContactId": contact}
    outcome = result_columns(values)  # a result file fed back: its outcome columns are ignored
    unknown = [c for c in values if not _known(op.name, c) and c not in fields and c not in outcome]
    hint = " (a template field? name the template: --template or a template column)"
    for column in unknown:
        more = hint if op.name == "update" and template is None else ""
        problems.append(
            _problem(Code.UNKNOWN_COLUMN, column, f"is not a column of {op.name}{more}")
        )
    if op.name == "update":
        params.update(_update(values, problems, template, fields, times))
    elif op.name == "transfer":
        params.update(_transfer(values, problems))
    elif op.name == "verify":
        params.update(_verify(values, problems))
    return params, problems


def _field_columns(values: Mapping[str, Any], template: TaskTemplate | None) -> tuple[str, ...]:
    """The row's columns that name a field of ``template`` (not one of update's own)."""
    if template is None:
        return ()
    names = {fold(f.name) for f in template.fields}
    return tuple(c for c in values if fold(c) in names and not _known("update", c))


def _template_fields(
    values: Mapping[str, Any], template: TaskTemplate, fields: tuple[str, ...], times: MappingConfig
) -> tuple[dict[str, Any], list[Problem]]:
    """Name, Description and typed References from the columns naming ``template``'s fields,
    by the import's own value rules; the template's defaults are not sent (an update changes
    only what the row gives). Fields UpdateContact cannot change are the row's problems."""
    given = {c: values[c] for c in fields if str(values[c] or "").strip()}
    plan = _plan(template, tuple(given), times)
    refused = [
        _problem(
            Code.UNSUPPORTED_FIELD, column, f"sets {member}, which UpdateContact cannot change"
        )
        for column, kind, member, *_ in plan.entries
        if kind == PARAM and member not in ("Name", "Description")
    ]
    if refused:
        given = {c: v for c, v in given.items() if c not in {p.field for p in refused}}
        plan = _plan(template, tuple(given), times)
    _key, params, problems = plan.run(given)
    out = {k: v for k, v in params.items() if k in ("Name", "Description", "References")}
    return out, [*problems, *refused]


#: Compiled plans by (template, columns, time settings): rows of one file share a few.
_PLANS: dict[tuple[int, tuple[str, ...], str | None, str | None], tuple[TaskTemplate, Plan]] = {}


def _plan(template: TaskTemplate, columns: tuple[str, ...], times: MappingConfig) -> Plan:
    key = (id(template), columns, times.timezone, times.date_format)
    found = _PLANS.get(key)
    if found is not None and found[0] is template:
        return found[1]
    config = MappingConfig(timezone=times.timezone, date_format=times.date_format)
    plan = build_plan(config, replace(template, defaults={}), columns)
    if len(_PLANS) > 256:
        _PLANS.clear()
    _PLANS[key] = (template, plan)
    return plan


def _update(
    values: Mapping[str, Any],
    problems: list[Problem],
    template: TaskTemplate | None,
    fields: tuple[str, ...],
    times: MappingConfig,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if template is not None and fields:
        out, more = _template_fields(values, template, fields, times)
        problems += more
    for column, member, limit in (("name", "Name", MAX_NAME), ("description", "Description",
                                                                MAX_DESCRIPTION)):  # fmt: skip
        value = _text(values, column)
        if value:
            if len(value) > limit:
                problems.append(_problem(Code.TEXT_TOO_LONG, column, f"is over {limit} characters"))
            out[member] = value
    references = {
        column[4:]: {"Type": "STRING", "Value": _text(values, column)}
        for column in values
        if fold(column).startswith("ref.") and _text(values, column)
    }
    if references:
        out["References"] = {**out.get("References", {}), **references}
    if not out and not problems:
        problems.append(
            _problem(
                Code.REQUIRED_FIELD_MISSING,
                None,
                "nothing to update: give name, description, template field or ref.<name> values",
            )
        )
    return out


def _transfer(values: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    queue, user, flow = (_text(values, c) for c in ("queue_id", "user_id", "contact_flow_id"))
    out: dict[str, Any] = {}
    if not flow:
        problems.append(_problem(Code.NO_FLOW, "contact_flow_id", "is empty"))
    else:
        out["ContactFlowId"] = flow
    if queue and user:
        problems.append(
            _problem(Code.INVALID_VALUE, "queue_id", "give queue_id or user_id, not both")
        )
    elif not queue and not user:
        problems.append(_problem(Code.REQUIRED_FIELD_MISSING, "queue_id", "or user_id is needed"))
    elif queue:
        out["QueueId"] = queue
    else:
        out["UserId"] = user
    for column, value in (("queue_id", queue), ("user_id", user), ("contact_flow_id", flow)):
        if len(value) > MAX_ID:
            problems.append(_problem(Code.VALUE_TOO_LONG, column, f"is over {MAX_ID} characters"))
    return out


def _verify(values: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    text = _text(values, "expected")
    try:
        expected = json.loads(text) if text else None
    except ValueError:
        expected = None
    if not isinstance(expected, dict):
        problems.append(
            _problem(Code.UNKNOWN_TEMPLATE, "expected", "the import row could not be mapped again")
        )
        return {}
    return {"Expected": expected}


def _known(op: str, column: str) -> bool:
    folded = fold(column)
    if folded == "contact_id" or folded in COLUMNS[op]:
        return True
    return op == "update" and folded.startswith("ref.") and len(folded) > 4


def _text(values: Mapping[str, Any], column: str) -> str:
    for name, value in values.items():
        if fold(name) == column or name == column:
            return "" if value is None else str(value).strip()
    return ""


def _problem(code: Code, field: str | None, message: str) -> Problem:
    where = f"{field} " if field else ""
    return Problem(code, field, f"{where}{message}".strip())
