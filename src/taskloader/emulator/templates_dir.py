"""Preloading task templates from ``*.json`` files in GetTaskTemplate shape (``--templates``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskloader.emulator.apierror import ApiError
from taskloader.emulator.backend import Backend
from taskloader.emulator.ops_templates import create_task_template
from taskloader.emulator.validate import Violation
from taskloader.errors import UsageError

_MEMBERS = (
    "Name",
    "Description",
    "ContactFlowId",
    "SelfAssignFlowId",
    "Constraints",
    "Defaults",
    "Status",
    "Fields",
)


def read_template_files(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file name, parsed JSON) of every ``*.json`` file in ``directory``, sorted by name."""
    if not directory.is_dir():
        raise UsageError(f"templates directory {directory} does not exist")
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read template file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"template file {path} must hold a JSON object")
        out.append((str(path), data))
    return out


def preload_templates(backend: Backend, files: list[tuple[str, dict[str, Any]]]) -> None:
    """Create each template (keeping its ``Id`` if set) through CreateTaskTemplate's rules."""
    op = backend.spec.operations["CreateTaskTemplate"]
    default_instance = next(iter(backend.world.instances))
    for source, data in files:
        params: dict[str, Any] = {k: data[k] for k in _MEMBERS if k in data}
        params["InstanceId"] = data.get("InstanceId") or default_instance
        if data.get("Id"):
            params["_Id"] = str(data["Id"])
            if data["Id"] in backend.state.templates[params["InstanceId"]]:
                continue  # already there (restored from the state file)
        try:
            op.check(params)
            create_task_template(backend, op, params)
        except Violation as v:
            raise UsageError(f"template file {source}: {v.describe()}") from v
        except ApiError as exc:
            raise UsageError(f"template file {source}: {exc}") from exc
