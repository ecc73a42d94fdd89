"""`taskloader contacts verify LEDGER`: did every task arrive as its row asked?

For each succeeded row of an import ledger the row is mapped again (the same mapping and
templates as the import), and what it asked for -- name, description, template, scheduled time,
references by name, type and value -- is kept in the verify ledger's row as ``expected``. The
send pass then reads the contact back (DescribeContact, and ListContactReferences when the row
asked for references) and :meth:`VerifyOperation.judge` compares:

- ``succeeded``: every asked field matches -> ``verified.csv``;
- ``failed`` with code ``mismatched``: the differing fields, asked vs found -> ``mismatched.csv``;
- ``failed`` with code ``missing``: the contact is not found -> ``missing.csv``.

Only reads are made. Logs carry record numbers and codes, never values; the result files hold
the values (they are the point).
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from taskloader.connect.retry import Classification, ErrorKind
from taskloader.input.readers import Row
from taskloader.ledger.atomic import atomic_text
from taskloader.ledger.reader import LedgerReader
from taskloader.ledger.results import neutralise, result_names
from taskloader.ledger.schema import RowStatus
from taskloader.mapping.rules import Problem
from taskloader.run.operation import ContactOperation
from taskloader.run.prepare import Preparer

#: ListContactReferences takes at most 6 types; these are the ones a task's row can set.
REFERENCE_TYPES = ["URL", "STRING", "NUMBER", "DATE", "EMAIL"]
_SUMMARY_TYPES = {"Url": "URL", "String": "STRING", "Number": "NUMBER", "Date": "DATE",
                  "Email": "EMAIL"}  # fmt: skip
MISMATCHED, MISSING = "mismatched", "missing"
VERIFY_FILES = ("verified", "mismatched", "missing")


def expected_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """What a StartTaskContact request asked for, as the values verify compares (JSON)."""
    scheduled = params.get("ScheduledTime")
    return {
        "name": params.get("Name"),
        "description": params.get("Description"),
        "template": params.get("TaskTemplateId"),
        "scheduled_time": _epoch(scheduled),
        "references": {
            name: [ref.get("Type"), ref.get("Value")]
            for name, ref in (params.get("References") or {}).items()
        },
    }


def differences(expected: Mapping[str, Any], found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The asked fields whose value differs: ``[{"field", "asked", "found"}]``."""
    out = []
    for name in ("name", "description", "template", "scheduled_time"):
        asked = expected.get(name)
        if asked is not None and asked != found.get(name):
            out.append({"field": name, "asked": asked, "found": found.get(name)})
    references = found.get("references") or {}
    for name, asked in (expected.get("references") or {}).items():
        got = references.get(name)
        if got is None or list(got) != list(asked):
            out.append({"field": f"ref.{name}", "asked": asked, "found": got})
    return out


@dataclass(frozen=True, slots=True)
class VerifyOperation(ContactOperation):
    """DescribeContact (+ ListContactReferences): reads compared with the row's ``expected``."""

    async def call(self, client: Any, params: dict[str, Any]) -> Any:
        where = {"InstanceId": params["InstanceId"], "ContactId": params["ContactId"]}
        expected = params["Expected"]
        contact = (await client.describe_contact(**where))["Contact"]
        references = None
        if expected.get("references"):
            answer = await client.list_contact_references(**where, ReferenceTypes=REFERENCE_TYPES)
            references = answer.get("ReferenceSummaryList", [])
        return {"Contact": contact, "References": references, "Expected": expected}

    def judge(self, response: Mapping[str, Any], key: str | None) -> tuple[RowStatus, Any]:
        found = _found(response["Contact"], response["References"])
        diffs = differences(response["Expected"], found)
        if not diffs:
            return RowStatus.SUCCEEDED, {"contact_id": key}
        # Each difference also reads as a problem (code, field, message), so the row's line in
        # failed.csv says what differs, as an invalid row's says what is wrong.
        listed = [
            {
                **d,
                "code": MISMATCHED,
                "message": f"asked {_cell(d['asked'])}, found {_cell(d['found']) or 'nothing'}",
            }
            for d in diffs
        ]
        message = json.dumps(listed, ensure_ascii=False, default=str)
        return RowStatus.FAILED, {
            "error_code": MISMATCHED, "error_message": message, "contact_id": key,
        }  # fmt: skip

    def classify(self, exc: BaseException) -> Classification | None:
        found = ContactOperation.classify(self, exc)
        if found is not None and found.kind is ErrorKind.PERMANENT and found.code in (
            "ResourceNotFoundException", "ContactNotFoundException",
        ):  # fmt: skip
            return replace(found, code=MISSING, message=f"not found ({found.message})")
        return found


VERIFY = VerifyOperation(
    "verify", "DescribeContact", "describe_contact", 10.0, 15, client_token=False
)


def _found(contact: Mapping[str, Any], summaries: list[dict[str, Any]] | None) -> dict[str, Any]:
    template = (contact.get("TaskTemplateInfo") or {}).get("Arn")
    references: dict[str, list[Any]] = {}
    for item in summaries or ():
        for key, body in item.items():
            if key in _SUMMARY_TYPES and isinstance(body, Mapping):
                references[str(body.get("Name"))] = [_SUMMARY_TYPES[key], body.get("Value")]
    return {
        "name": contact.get("Name"),
        "description": contact.get("Description"),
        "template": str(template).rsplit("/", 1)[-1] if template else None,
        "scheduled_time": _epoch(contact.get("ScheduledTimestamp")),
        "references": references,
    }


def _epoch(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


async def expecting(
    chunks: AsyncIterator[list[Row]], preparer: Preparer
) -> AsyncIterator[list[Row]]:
    """The verify rows of an import ledger, each import row mapped again into ``expected``
    (JSON); a row that no longer maps keeps no ``expected`` and is invalid."""
    async for chunk in chunks:
        out = []
        for row in chunk:
            values = dict(row.values)
            source = Row(row.source, row.number, row.line, values.pop("row", None) or {})
            template = await preparer.template_for(source)
            if isinstance(template, Problem):
                values["expected"] = ""
            else:
                request = preparer.mapper.map_row(source, template).request
                values["expected"] = json.dumps(expected_of(request.params), ensure_ascii=False)
            out.append(Row(row.source, row.number, row.line, values))
        yield out


def write_verify_results(ledger: LedgerReader, out_dir: Path) -> dict[str, Path]:
    """``verified.csv`` (contact_id, key), ``mismatched.csv`` (one line per differing field:
    contact_id, key, field, asked, found) and ``missing.csv`` beside the other result files."""
    prefix = result_names(ledger.path)["summary"].removesuffix("summary.json")
    paths = {kind: out_dir / f"{prefix}{kind}.csv" for kind in VERIFY_FILES}
    with contextlib.ExitStack() as stack:
        out = {k: csv.writer(stack.enter_context(atomic_text(p))) for k, p in paths.items()}
        out["verified"].writerow(["contact_id", "key"])
        out["mismatched"].writerow(["contact_id", "key", "field", "asked", "found"])
        out["missing"].writerow(["contact_id", "key", "message"])
        for rec in ledger.iter_records([RowStatus.SUCCEEDED, RowStatus.FAILED]):
            raw = rec.raw or {}
            ids = [str(raw.get("contact_id") or ""), str(raw.get("key") or "")]
            if rec.status is RowStatus.SUCCEEDED:
                out["verified"].writerow([neutralise(c) for c in ids])
            elif rec.error_code == MISMATCHED:
                for diff in json.loads(rec.error_message or "[]"):
                    cells = [*ids, diff["field"], _cell(diff["asked"]), _cell(diff["found"])]
                    out["mismatched"].writerow([neutralise(c) for c in cells])
            elif rec.error_code == MISSING:
                cells = [*ids, rec.error_message or ""]
                out["missing"].writerow([neutralise(c) for c in cells])
    return paths


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
