"""A template file in one instance: names resolved, the canonical request, the portable form.

:func:`to_request` turns a :class:`~taskloader.templates.portable.TemplateSpec` into the
canonical CreateTaskTemplate members for an instance (names resolved by a :class:`Catalog`), and
:func:`canonical` turns a GetTaskTemplate answer into the same shape, so that "unchanged" is
plain equality. :func:`to_portable` goes the other way for ``export``. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskloader.templates.portable import (
    BY_NAME,
    CONSTRAINT_KEYS,
    QUICK_CONNECT_FIELD,
    FieldSpec,
    FileProblem,
    Ref,
    TemplateFileError,
    TemplateSpec,
    parse_template,
)

_NAMESPACE = uuid.UUID("6f1c5a52-0c1e-4c55-9b3e-7d1a8e4f2b10")


# -- names and ids in one instance ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    """The flows and quick connects of one instance: id -> name."""

    flows: Mapping[str, str]
    quick_connects: Mapping[str, str]

    def _table(self, kind: str) -> Mapping[str, str]:
        return self.flows if kind == "flow" else self.quick_connects

    def resolve(self, ref: Ref) -> str:
        """The id ``ref`` stands for; raises LookupError with a message for the user."""
        table = self._table(ref.kind)
        if not ref.by_name:
            if ref.value not in table:
                raise LookupError(f"{ref.kind} id {ref.value!r} does not exist in the instance")
            return ref.value
        ids = [i for i, n in table.items() if n == ref.value]
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise LookupError(f"{len(ids)} {ref.kind}s are named {ref.value!r} in the instance")
        names = ", ".join(repr(n) for n in sorted(set(table.values()))) or "none"
        raise LookupError(f"no {ref.kind} named {ref.value!r} in the instance (there: {names})")

    def name_of(self, kind: str, resource_id: str) -> str:
        """The unique name of a flow or quick connect; LookupError when it has none."""
        table = self._table(kind)
        if resource_id not in table:
            raise LookupError(f"{kind} {resource_id!r} is not in the instance's listing")
        name = table[resource_id]
        if sum(1 for n in table.values() if n == name) > 1:
            raise LookupError(f"{kind} name {name!r} is not unique in the instance")
        return name

    def label(self, kind: str, resource_id: str | None) -> str | None:
        """A flow or quick connect for people: its name if known, else its id."""
        if resource_id is None:
            return None
        return self._table(kind).get(resource_id, resource_id)


# -- the canonical request ----------------------------------------------------------------------


def _field_doc(f: FieldSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"Id": {"Name": f.name}, "Type": f.type}
    if f.description:
        doc["Description"] = f.description
    if f.options:
        doc["SingleSelectOptions"] = list(f.options)
    return doc


def _names(names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Id": {"Name": n}} for n in sorted(set(names))]


def _assemble(
    spec: TemplateSpec, flow: str | None, self_assign: str | None, defaults: Mapping[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": spec.name, "Status": spec.status}
    if spec.description:
        out["Description"] = spec.description
    if flow:
        out["ContactFlowId"] = flow
    if self_assign:
        out["SelfAssignFlowId"] = self_assign
    out["Fields"] = [_field_doc(f) for f in spec.fields]
    out["Constraints"] = {key: _names(spec.constraint(key)) for key in CONSTRAINT_KEYS}
    out["Defaults"] = {
        "DefaultFieldValues": [
            {"Id": {"Name": k}, "DefaultValue": defaults[k]} for k in sorted(defaults)
        ]
    }
    return out


def to_request(spec: TemplateSpec, catalog: Catalog) -> dict[str, Any]:
    """The canonical CreateTaskTemplate members of ``spec`` in the catalog's instance.

    Raises :class:`TemplateFileError` naming every flow or quick connect that does not resolve.
    """
    problems: list[FileProblem] = []

    def resolve(ref: Ref | None, where: str) -> str | None:
        if ref is None:
            return None
        try:
            return catalog.resolve(ref)
        except LookupError as exc:
            problems.append(FileProblem(spec.source, where, str(exc)))
            return None

    member = {True: ("ContactFlow", "SelfAssignFlow"), False: ("ContactFlowId", "SelfAssignFlowId")}
    flow_key, self_key = member[spec.form == "portable"]
    flow = resolve(spec.contact_flow, flow_key)
    self_assign = resolve(spec.self_assign_flow, self_key)
    defaults: dict[str, str] = {}
    for d in spec.defaults:
        value = resolve(d.quick_connect, f"Defaults {d.field!r}") if d.quick_connect else d.value
        if value is not None:
            defaults[d.field] = value
    if problems:
        raise TemplateFileError(problems)
    return _assemble(spec, flow, self_assign, defaults)


def canonical(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A GetTaskTemplate answer in the shape :func:`to_request` builds (for comparing)."""
    spec = parse_template({**doc, "Id": doc.get("Id", "")}, "instance")
    defaults = {
        d.field: d.quick_connect.value if d.quick_connect else d.value for d in spec.defaults
    }
    flow = spec.contact_flow.value if spec.contact_flow else None
    self_assign = spec.self_assign_flow.value if spec.self_assign_flow else None
    return _assemble(spec, flow, self_assign, defaults)


def to_portable(doc: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """A GetTaskTemplate answer in the portable form (export); LookupError on an id that has no
    unique name in the instance."""
    request = canonical(doc)
    out: dict[str, Any] = {"Name": request["Name"]}
    if "Description" in request:
        out["Description"] = request["Description"]
    out["Status"] = request["Status"]
    for portable, member in BY_NAME.items():
        if member in request:
            out[portable] = catalog.name_of("flow", request[member])
    out["Fields"] = request["Fields"]
    types = {f["Id"]["Name"]: f["Type"] for f in request["Fields"]}
    out["Constraints"] = request["Constraints"]
    defaults = []
    for d in request["Defaults"]["DefaultFieldValues"]:
        name = d["Id"]["Name"]
        if types.get(name) == QUICK_CONNECT_FIELD and d["DefaultValue"]:
            qc = catalog.name_of("quick connect", d["DefaultValue"])
            defaults.append({"Id": {"Name": name}, "QuickConnect": qc})
        else:
            defaults.append(d)
    out["Defaults"] = {"DefaultFieldValues": defaults}
    return out


def dumps(doc: Mapping[str, Any]) -> str:
    """A template file's text, for readable diffs: objects one member a line, keys in the order
    given, and each item of a list (a field, a constraint, a default) on one line of its own."""
    return _dump(doc, "") + "\n"


def _dump(value: Any, indent: str) -> str:
    inner = indent + "  "
    if isinstance(value, Mapping) and value:
        members = [f"{inner}{json.dumps(k)}: {_dump(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + indent + "}"
    if isinstance(value, list) and value and any(isinstance(v, Mapping) for v in value):
        items = [inner + json.dumps(v, ensure_ascii=False) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def file_names(names: Sequence[str]) -> dict[str, str]:
    """Stable, readable file names for template names (``Follow-up call`` ->
    ``follow-up-call.json``); names that would share one get a short hash of the name added."""
    slugs = {n: re.sub(r"[^a-z0-9]+", "-", n.lower()).strip("-")[:60] or "template" for n in names}
    taken = list(slugs.values())
    out = {}
    for name, slug in slugs.items():
        if taken.count(slug) > 1:
            slug += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
        out[name] = slug + ".json"
    return out


def client_token(instance_id: str, request: Mapping[str, Any]) -> str:
    """The CreateTaskTemplate ClientToken: a UUID from the instance and the template's content.

    The same file applied to the same instance always sends the same token, so a create whose
    answer was lost (a crash, a timeout) is answered with the first template, not a second one.
    """
    text = instance_id + "\n" + json.dumps(request, sort_keys=True, ensure_ascii=False)
    return str(uuid.uuid5(_NAMESPACE, text))
