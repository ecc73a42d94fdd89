"""Task template files: the portable form (``templates export``) and the API form (``pull``).

The **portable** form is what a team keeps in git and applies to any instance: the members of
CreateTaskTemplate, in a fixed key order, with every instance-specific id written by name
(``"ContactFlow": "Callback flow"`` for ``ContactFlowId``, ``"SelfAssignFlow"`` for
``SelfAssignFlowId``, ``"QuickConnect": "Billing queue"`` for the default of a QUICK_CONNECT
field) and nothing the server assigns (Id, Arn, timestamps, snapshot versions).

The **API** form is GetTaskTemplate's answer as it is (``templates pull`` files, the backups
``templates apply`` writes). It can be applied too, to the instance it came from: its ids must
exist there.

Both forms become a :class:`TemplateSpec` (:func:`parse_template`);
:mod:`taskloader.templates.request` turns one into the members to send. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskloader.errors import UsageError

CONSTRAINT_KEYS = ("RequiredFields", "ReadOnlyFields", "InvisibleFields")
PORTABLE_KEYS = (
    "Name",
    "Description",
    "Status",
    "ContactFlow",
    "SelfAssignFlow",
    "Fields",
    "Constraints",
    "Defaults",
)
#: Members of a GetTaskTemplate answer that the server assigns; an API-form file may carry them.
SERVER_KEYS = frozenset(
    {"Id", "Arn", "InstanceId", "CreatedTime", "LastModifiedTime", "Tags", "SnapshotVersion"}
)
#: Portable member -> the API member it stands for (by id).
BY_NAME = {"ContactFlow": "ContactFlowId", "SelfAssignFlow": "SelfAssignFlowId"}
QUICK_CONNECT_FIELD = "QUICK_CONNECT"


@dataclass(frozen=True, slots=True)
class FileProblem:
    """What is wrong with one template file, and where in it."""

    source: str
    where: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.where}: {self.message}"
            if self.where
            else (f"{self.source}: {self.message}")
        )


class TemplateFileError(UsageError):
    """One or more template files are wrong; nothing was sent (exit 2)."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = tuple(problems)
        lines = [str(p) for p in self.problems]
        super().__init__(
            f"{len(lines)} problem(s) in the template files, nothing was sent:\n  "
            + "\n  ".join(lines)
        )


@dataclass(frozen=True, slots=True)
class Ref:
    """A flow or quick connect, named (portable form) or by id (API form)."""

    kind: str  # "flow" | "quick connect"
    value: str
    by_name: bool


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    description: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DefaultSpec:
    field: str
    value: str = ""
    quick_connect: Ref | None = None


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """One template file, parsed; its rules are checked by ``checks.template_files``."""

    source: str
    form: str  # "portable" | "api"
    name: str
    status: str = "ACTIVE"
    description: str | None = None
    contact_flow: Ref | None = None
    self_assign_flow: Ref | None = None
    fields: tuple[FieldSpec, ...] = ()
    constraints: Mapping[str, tuple[str, ...]] | None = None
    defaults: tuple[DefaultSpec, ...] = ()

    def constraint(self, key: str) -> tuple[str, ...]:
        return (self.constraints or {}).get(key, ())


# -- parsing ------------------------------------------------------------------------------------


class _Parser:
    """Reads one file's JSON value, collecting every type problem with its place."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[FileProblem] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(FileProblem(self.source, where, message))

    def text(self, value: Any, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            self.fail(where, "must be a string" if value is not None else "is missing")
            return None
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "must be a list")
            return []
        return value

    def object(self, value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(where, "must be an object")
            return {}
        return value

    def only(self, item: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        """Flag members a portable file does not have (a typo must not pass silently)."""
        for key in sorted(set(item) - set(allowed)):
            self.fail(f"{where}.{key}", f"is not a member here ({', '.join(allowed)})")

    def id_name(self, item: Any, where: str) -> str | None:
        """The ``{"Id": {"Name": ...}}`` of a field, constraint or default."""
        ident = self.object(self.object(item, where).get("Id"), f"{where}.Id")
        return self.text(ident.get("Name"), f"{where}.Id.Name")


def parse_template(data: Any, source: str) -> TemplateSpec:
    """A template file's JSON value -> :class:`TemplateSpec`; raises :class:`TemplateFileError`."""
    p = _Parser(source)
    if not isinstance(data, Mapping):
        raise TemplateFileError([FileProblem(source, "", "is not a JSON object")])
    form = "api" if SERVER_KEYS & set(data) else "portable"
    if form == "portable":
        for key in sorted(set(data) - set(PORTABLE_KEYS)):
            if key in BY_NAME.values():
                portable = next(k for k, v in BY_NAME.items() if v == key)
                p.fail(key, f"is instance-specific: name the flow with {portable!r} instead")
            else:
                p.fail(key, f"is not a member of a template file ({', '.join(PORTABLE_KEYS)})")

    def ref(key: str, kind: str) -> Ref | None:
        member = key if form == "portable" else BY_NAME[key]
        value = p.text(data.get(member), member, optional=True)
        return Ref(kind, value, form == "portable") if value else None

    fields = []
    for i, raw in enumerate(p.items(data.get("Fields"), "Fields")):
        where = f"Fields[{i}]"
        name = p.id_name(raw, where)
        item = p.object(raw, where)
        if form == "portable":
            p.only(item, ("Id", "Type", "Description", "SingleSelectOptions"), where)
        ftype = p.text(item.get("Type"), f"{where}.Type")
        description = p.text(item.get("Description"), f"{where}.Description", optional=True)
        at = f"{where}.SingleSelectOptions"
        raw_options = p.items(item.get("SingleSelectOptions"), at)
        options = [p.text(o, f"{at}[{j}]") for j, o in enumerate(raw_options)]
        if name is not None and ftype is not None:
            opts = tuple(o for o in options if o is not None)
            fields.append(FieldSpec(name, ftype, description, opts))
    types = {f.name: f.type for f in fields}

    constraints: dict[str, tuple[str, ...]] = {}
    raw_constraints = p.object(data.get("Constraints"), "Constraints")
    for key in sorted(set(raw_constraints) - set(CONSTRAINT_KEYS)):
        p.fail(f"Constraints.{key}", f"is not a constraint ({', '.join(CONSTRAINT_KEYS)})")
    for key in CONSTRAINT_KEYS:
        where = f"Constraints.{key}"
        names = [
            p.id_name(c, f"{where}[{i}]")
            for i, c in enumerate(p.items(raw_constraints.get(key), where))
        ]
        constraints[key] = tuple(n for n in names if n is not None)

    defaults = []
    raw_defaults = p.object(data.get("Defaults"), "Defaults")
    for i, raw in enumerate(p.items(raw_defaults.get("DefaultFieldValues"), "Defaults")):
        where = f"Defaults.DefaultFieldValues[{i}]"
        name = p.id_name(raw, where)
        item = p.object(raw, where)
        if name is None:
            continue
        if form == "portable":
            p.only(item, ("Id", "DefaultValue", "QuickConnect"), where)
            if "QuickConnect" in item and types.get(name) != QUICK_CONNECT_FIELD:
                p.fail(where, f"field {name!r} is not a QUICK_CONNECT: give a 'DefaultValue'")
        if form == "portable" and types.get(name) == QUICK_CONNECT_FIELD:
            if "DefaultValue" in item:
                p.fail(where, f"field {name!r} is a QUICK_CONNECT: name it with 'QuickConnect'")
            qc = p.text(item.get("QuickConnect"), f"{where}.QuickConnect")
            if qc is not None:
                defaults.append(DefaultSpec(name, "", Ref("quick connect", qc, True)))
        elif types.get(name) == QUICK_CONNECT_FIELD:
            qc = p.text(item.get("DefaultValue", ""), f"{where}.DefaultValue")
            if qc:
                defaults.append(DefaultSpec(name, "", Ref("quick connect", qc, False)))
        else:
            value = p.text(item.get("DefaultValue", ""), f"{where}.DefaultValue")
            if value is not None:
                defaults.append(DefaultSpec(name, value))

    name = p.text(data.get("Name"), "Name")
    status = p.text(data.get("Status", "ACTIVE"), "Status")
    description = p.text(data.get("Description"), "Description", optional=True)
    spec = TemplateSpec(
        source=source,
        form=form,
        name=name or "",
        status=status or "ACTIVE",
        description=description,
        contact_flow=ref("ContactFlow", "flow"),
        self_assign_flow=ref("SelfAssignFlow", "flow"),
        fields=tuple(fields),
        constraints=constraints,
        defaults=tuple(defaults),
    )
    if p.problems:
        raise TemplateFileError(p.problems)
    return spec
