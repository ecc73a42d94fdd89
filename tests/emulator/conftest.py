"""Fixtures of the emulator tests: the example templates, created through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "config" / "templates"
_MEMBERS = ("Name", "Description", "ContactFlowId", "Fields", "Constraints", "Defaults", "Status")


def template_params(file_name: str, **overrides: Any) -> dict[str, Any]:
    """CreateTaskTemplate parameters from one of config/templates/*.json."""
    data = json.loads((TEMPLATES_DIR / file_name).read_text(encoding="utf-8"))
    params = {k: data[k] for k in _MEMBERS if k in data}
    params.update(overrides)
    return params


@pytest.fixture
def callback_template(connect_client: Any, emulator: Any) -> str:
    """Id of the example "Callback" template (with a flow), created through the API."""
    params = template_params("callback.json")
    return str(connect_client.create_task_template(InstanceId=emulator.instance_id, **params)["Id"])


def callback_references(
    changes: dict[str, dict[str, str] | None] | None = None,
) -> dict[str, dict[str, str]]:
    """Valid References for the Callback template; ``changes`` replaces (None: drops) some."""
    refs = {
        "Customer name": {"Type": "STRING", "Value": "Ada Lovelace"},
        "Account number": {"Type": "NUMBER", "Value": "1815"},
        "Reason": {"Type": "STRING", "Value": "Billing"},
    }
    for name, ref in (changes or {}).items():
        if ref is None:
            refs.pop(name, None)
        else:
            refs[name] = ref
    return refs
