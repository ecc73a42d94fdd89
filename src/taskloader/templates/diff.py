"""What an update changes, member by member and field by field.

Both sides are canonical CreateTaskTemplate members (:func:`portable.to_request`,
:func:`portable.canonical`). Fields are matched by name (a rename is a removal and an addition,
as in Connect, where a field's identity is its name). Flows are shown by name. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskloader.templates.portable import CONSTRAINT_KEYS
from taskloader.templates.request import Catalog


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: ``member`` of the template (``field`` inside it), ``before`` -> ``after``."""

    member: str
    change: str  # added | removed | changed | type | options | description | order
    field: str | None = None
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"member": self.member, "change": self.change}
        if self.field is not None:
            out["field"] = self.field
        out["before"] = self.before
        out["after"] = self.after
        return out

    def text(self) -> str:
        where = self.member if self.field is None else f"{self.member} {self.field!r}"
        if self.change == "added":
            return f"+ {where}" + (f": {_show(self.after)}" if self.after is not None else "")
        if self.change == "removed":
            return f"- {where}" + (f": {_show(self.before)}" if self.before is not None else "")
        what = "" if self.change == "changed" else f" {self.change}"
        line = f"~ {where}{what}: {_show(self.before)} -> {_show(self.after)}"
        if self.change == "options":
            gone = [repr(o) for o in self.before if o not in self.after]
            new = [repr(o) for o in self.after if o not in self.before]
            line += " (" + ", ".join(["-" + o for o in gone] + ["+" + o for o in new]) + ")"
        return line


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "(none)"
    return repr(value) if isinstance(value, str) else str(value)


def _fields(request: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f["Id"]["Name"]: f for f in request.get("Fields", ())}


def _names(request: Mapping[str, Any], key: str) -> set[str]:
    return {c["Id"]["Name"] for c in request.get("Constraints", {}).get(key, ())}


def _defaults(request: Mapping[str, Any]) -> dict[str, str]:
    values = request.get("Defaults", {}).get("DefaultFieldValues", ())
    return {d["Id"]["Name"]: d["DefaultValue"] for d in values}


def diff(current: Mapping[str, Any], desired: Mapping[str, Any], catalog: Catalog) -> list[Change]:
    """The changes that turn ``current`` into ``desired`` (empty: unchanged)."""
    changes: list[Change] = []
    for member in ("Description", "Status"):
        if current.get(member) != desired.get(member):
            changes.append(
                Change(member, "changed", None, current.get(member), desired.get(member))
            )
    for member, label in (("ContactFlowId", "ContactFlow"), ("SelfAssignFlowId", "SelfAssignFlow")):
        before, after = current.get(member), desired.get(member)
        if before != after:
            names = catalog.label("flow", before), catalog.label("flow", after)
            changes.append(Change(label, "changed", None, *names))
    changes += _field_changes(current, desired)
    for key in CONSTRAINT_KEYS:
        before, after = _names(current, key), _names(desired, key)
        for name in sorted(after - before):
            changes.append(Change(f"Constraints.{key}", "added", name))
        for name in sorted(before - after):
            changes.append(Change(f"Constraints.{key}", "removed", name))
    types = {n: f["Type"] for n, f in _fields(desired).items()}
    old_defaults, new_defaults = _defaults(current), _defaults(desired)

    def shown(name: str, value: str | None) -> str | None:
        if value and types.get(name) == "QUICK_CONNECT":
            return catalog.label("quick connect", value)
        return value

    for name in sorted(old_defaults.keys() | new_defaults.keys()):
        before, after = old_defaults.get(name), new_defaults.get(name)
        if before == after:
            continue
        kind = "added" if before is None else "removed" if after is None else "changed"
        changes.append(Change("Defaults", kind, name, shown(name, before), shown(name, after)))
    return changes


def _field_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    old, new = _fields(current), _fields(desired)
    for name, f in new.items():
        if name not in old:
            changes.append(Change("Fields", "added", name, None, f["Type"]))
            continue
        was = old[name]
        if was["Type"] != f["Type"]:
            changes.append(Change("Fields", "type", name, was["Type"], f["Type"]))
        before, after = was.get("SingleSelectOptions", []), f.get("SingleSelectOptions", [])
        if before != after:
            changes.append(Change("Fields", "options", name, before, after))
        if was.get("Description") != f.get("Description"):
            changes.append(
                Change("Fields", "description", name, was.get("Description"), f.get("Description"))
            )
    for name, was in old.items():
        if name not in new:
            changes.append(Change("Fields", "removed", name, was["Type"], None))
    kept_old = [n for n in old if n in new]
    kept_new = [n for n in new if n in old]
    if kept_old != kept_new:
        changes.append(Change("Fields", "order", None, kept_old, kept_new))
    return changes
