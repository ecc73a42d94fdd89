"""Small builders shared by the input tests."""

from __future__ import annotations

from typing import Any

from taskloader.input.readers import Row
from taskloader.templates.model import FieldType, TaskTemplate, TemplateField


def row(values: dict[str, Any], number: int = 1) -> Row:
    return Row("rows.csv", number, number + 1, values)


def template(**overrides: Any) -> TaskTemplate:
    f = TemplateField
    base: dict[str, Any] = {
        "id": "tpl-1",
        "arn": "arn:aws:connect:us-east-1:111122223333:instance/i-1/task-template/tpl-1",
        "name": "Callback",
        "contact_flow_id": "flow-1",
        "fields": (
            f("Task name", FieldType.NAME),
            f("Details", FieldType.DESCRIPTION),
            f("When", FieldType.SCHEDULED_TIME),
            f("Assign to", FieldType.QUICK_CONNECT),
            f("Summary", FieldType.TEXT),
            f("Notes", FieldType.TEXT_AREA),
            f("Amount", FieldType.NUMBER),
            f("Due", FieldType.DATE_TIME),
            f("Urgent", FieldType.BOOLEAN),
            f("Priority", FieldType.SINGLE_SELECT, options=("Low", "High")),
            f("Email", FieldType.EMAIL),
            f("Link", FieldType.URL),
            f("Expiry", FieldType.EXPIRY_DURATION),
            f("Me", FieldType.SELF_ASSIGN),
        ),
    }
    base.update(overrides)
    return TaskTemplate(**base)
