"""Task templates as plain values: parsed from the Connect API's JSON, written to disk.

This is the shared vocabulary of the template cache, the mapper and the validator.
It does no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class FieldType(enum.StrEnum):
    NAME = "NAME"
    DESCRIPTION = "DESCRIPTION"
    SCHEDULED_TIME = "SCHEDULED_TIME"
    QUICK_CONNECT = "QUICK_CONNECT"
    URL = "URL"
    NUMBER = "NUMBER"
    TEXT = "TEXT"
    TEXT_AREA = "TEXT_AREA"
    DATE_TIME = "DATE_TIME"
    BOOLEAN = "BOOLEAN"
    SINGLE_SELECT = "SINGLE_SELECT"
    EMAIL = "EMAIL"
    SELF_ASSIGN = "SELF_ASSIGN"
    EXPIRY_DURATION = "EXPIRY_DURATION"


#: Template field type -> the Reference type StartTaskContact expects for it.
REFERENCE_TYPE: Mapping[FieldType, str] = {
    FieldType.TEXT: "STRING",
    FieldType.TEXT_AREA: "STRING",
    FieldType.BOOLEAN: "STRING",
    FieldType.SINGLE_SELECT: "STRING",
    FieldType.NUMBER: "NUMBER",
    FieldType.DATE_TIME: "DATE",
    FieldType.URL: "URL",
    FieldType.EMAIL: "EMAIL",
}

#: Field types that feed a top-level StartTaskContact parameter rather than a Reference.
TOP_LEVEL_FIELDS: Mapping[FieldType, str] = {
    FieldType.NAME: "Name",
    FieldType.DESCRIPTION: "Description",
    FieldType.SCHEDULED_TIME: "ScheduledTime",
    FieldType.QUICK_CONNECT: "QuickConnectId",
}


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    type: FieldType
    description: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskTemplate:
    """One task template as GetTaskTemplate describes it."""

    id: str
    arn: str
    name: str
    status: str = "ACTIVE"
    description: str | None = None
    contact_flow_id: str | None = None
    fields: tuple[TemplateField, ...] = ()
    required: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    invisible: frozenset[str] = frozenset()
    defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    def field_named(self, name: str) -> TemplateField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TaskTemplate:
        """Build from a GetTaskTemplate response (or a file written by :meth:`to_api`)."""
        constraints = data.get("Constraints") or {}

        def names(key: str) -> frozenset[str]:
            return frozenset(item["Id"]["Name"] for item in constraints.get(key) or ())

        defaults = {
            d["Id"]["Name"]: d.get("DefaultValue", "")
            for d in (data.get("Defaults") or {}).get("DefaultFieldValues") or ()
        }
        fields = tuple(
            TemplateField(
                name=f["Id"]["Name"],
                type=FieldType(f["Type"]),
                description=f.get("Description"),
                options=tuple(f.get("SingleSelectOptions") or ()),
            )
            for f in data.get("Fields") or ()
        )
        return cls(
            id=data["Id"],
            arn=data.get("Arn", ""),
            name=data["Name"],
            status=data.get("Status", "ACTIVE"),
            description=data.get("Description"),
            contact_flow_id=data.get("ContactFlowId") or None,
            fields=fields,
            required=names("RequiredFields"),
            read_only=names("ReadOnlyFields"),
            invisible=names("InvisibleFields"),
            defaults=defaults,
        )

    def to_api(self) -> dict[str, Any]:
        """The GetTaskTemplate shape, JSON-ready (used by `templates pull`)."""
        out: dict[str, Any] = {
            "Id": self.id,
            "Arn": self.arn,
            "Name": self.name,
            "Status": self.status,
        }
        if self.description is not None:
            out["Description"] = self.description
        if self.contact_flow_id:
            out["ContactFlowId"] = self.contact_flow_id
        out["Fields"] = [
            {
                "Id": {"Name": f.name},
                "Type": f.type.value,
                **({"Description": f.description} if f.description else {}),
                **({"SingleSelectOptions": list(f.options)} if f.options else {}),
            }
            for f in self.fields
        ]
        out["Constraints"] = {
            key: [{"Id": {"Name": n}} for n in sorted(values)]
            for key, values in (
                ("RequiredFields", self.required),
                ("ReadOnlyFields", self.read_only),
                ("InvisibleFields", self.invisible),
            )
        }
        out["Defaults"] = {
            "DefaultFieldValues": [
                {"Id": {"Name": k}, "DefaultValue": v} for k, v in self.defaults.items()
            ]
        }
        return out
