"""The engine of ``templates export | plan | apply | validate``: task templates as code.

    files (DIR/*.json) ──parse + check──> specs ──resolve names──> requests ─┐
    instance ──ListTaskTemplates, ListContactFlows, ListQuickConnects, Get──┴─> plan ──> apply

Every file problem is found before any call that changes something. ``apply`` carries a plan
out in order (creates, updates, deletes); before an update or a delete it re-reads the template,
stops if it changed since the plan (UpdateTaskTemplate has no version check: the last writer
would win) and writes its API form to the backup directory. Creates carry a ClientToken derived
from the instance and the request, so a re-run after a crash never creates a template twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from taskloader.aws import AwsOptions
from taskloader.checks.template_files import MAX_TEMPLATES_PER_INSTANCE, check_templates
from taskloader.connect.client import connect_client
from taskloader.connect.pacing import Pacer
from taskloader.connect.retry import RetryPolicy
from taskloader.errors import TaskloaderError, UsageError
from taskloader.templates.diff import Change, diff
from taskloader.templates.portable import (
    FileProblem,
    TemplateFileError,
    TemplateSpec,
    parse_template,
)
from taskloader.templates.remote import InstanceTemplates
from taskloader.templates.request import (
    canonical,
    client_token,
    dumps,
    file_names,
    to_portable,
    to_request,
)


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """The instance, how to reach it, and how template calls are paced and retried."""

    aws: AwsOptions
    instance_id: str
    rate: float = 2.0  # the template operations' default quota: 2 requests/s, burst 5
    burst: int = 5
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(cap=5.0, deadline=60.0))


class TemplateApplyError(TaskloaderError):
    """``apply`` stopped: what it has done so far stays done (exit 4)."""

    exit_code = 4


class TemplateConflictError(TemplateApplyError):
    """A template changed in the instance between the plan and its update."""


# -- files ---------------------------------------------------------------------------------------


def load_dir(directory: Path) -> list[TemplateSpec]:
    """Every ``*.json`` file of ``directory``, parsed and checked; TemplateFileError if any is
    wrong (all problems of all files at once)."""
    if not directory.is_dir():
        raise UsageError(f"template directory {directory} does not exist")
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise UsageError(f"template directory {directory} holds no *.json template files")
    specs: list[TemplateSpec] = []
    problems: list[FileProblem] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(FileProblem(str(path), f"line {exc.lineno}", f"not JSON: {exc.msg}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(FileProblem(str(path), "", f"cannot be read: {exc}"))
            continue
        try:
            specs.append(parse_template(data, str(path)))
        except TemplateFileError as exc:
            problems.extend(exc.problems)
    problems.extend(check_templates(specs))
    if problems:
        raise TemplateFileError(problems)
    return specs


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanItem:
    action: str  # create | update | delete | unchanged
    name: str
    source: str | None = None  # the file (None for a delete)
    template_id: str | None = None  # None for a create
    request: dict[str, Any] | None = None
    changes: tuple[Change, ...] = ()
    modified: Any = None  # LastModifiedTime the plan saw (update, delete)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.template_id is not None:
            out["id"] = self.template_id
        if self.source is not None:
            out["file"] = self.source
        if self.action == "update":
            out["changed"] = sorted({c.member.split(".")[0] for c in self.changes})
            out["changes"] = [c.to_json() for c in self.changes]
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    instance_id: str
    items: tuple[PlanItem, ...]
    kept: tuple[str, ...] = ()  # in the instance, not in the files, not pruned

    def of(self, action: str) -> list[PlanItem]:
        return [i for i in self.items if i.action == action]

    @property
    def changes_anything(self) -> bool:
        return any(i.action != "unchanged" for i in self.items)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instance_id": self.instance_id}
        for action in ("create", "update", "delete", "unchanged"):
            out[action] = [i.to_json() for i in self.of(action)]
        out["not_in_files"] = list(self.kept)
        return out


@dataclass(slots=True)
class ApplyReport:
    done: list[tuple[str, str]] = field(default_factory=list)  # (action, name)
    backup_dir: Path | None = None

    def count(self, action: str) -> int:
        return sum(1 for a, _ in self.done if a == action)


#: Told each step done: ("created" | "updated" | "deleted", the item, its backup file or None).
Step = Callable[[str, PlanItem, Path | None], None]


class TemplateSync:
    """Plan and apply template files against one instance (see :func:`open_sync`)."""

    def __init__(self, api: InstanceTemplates) -> None:
        self.api = api

    async def plan(self, specs: Sequence[TemplateSpec], *, prune: bool) -> Plan:
        listing = await self.api.summaries()
        catalog = await self.api.catalog()
        requests: list[tuple[TemplateSpec, dict[str, Any]]] = []
        problems: list[FileProblem] = []
        by_name: dict[str, list[str]] = {}
        for s in listing:
            by_name.setdefault(s.name, []).append(s.id)
        for spec in specs:
            try:
                requests.append((spec, to_request(spec, catalog)))
            except TemplateFileError as exc:
                problems.extend(exc.problems)
            if (count := len(by_name.get(spec.name, ()))) > 1:
                message = (
                    f"{count} templates are named {spec.name!r} in the instance; rename or "
                    "delete all but one by hand first"
                )
                problems.append(FileProblem(spec.source, "Name", message))
        if problems:
            raise TemplateFileError(problems)
        items: list[PlanItem] = []
        for spec, request in requests:
            ids = by_name.get(spec.name)
            if not ids:
                items.append(PlanItem("create", spec.name, spec.source, request=request))
                continue
            current = await self.api.get(ids[0], spec.name)
            changes = diff(canonical(current), request, catalog)
            action = "update" if changes else "unchanged"
            modified = current.get("LastModifiedTime")
            item = PlanItem(
                action, spec.name, spec.source, ids[0], request, tuple(changes), modified
            )
            items.append(item)
        wanted = {spec.name for spec in specs}
        extra = [s for s in listing if s.name not in wanted]
        if prune:  # each read, so that apply can tell an edit made after the plan
            for s in extra:
                current = await self.api.get(s.id, s.name)
                modified = current.get("LastModifiedTime")
                items.append(PlanItem("delete", s.name, template_id=s.id, modified=modified))
        creates = sum(1 for i in items if i.action == "create")
        if creates and len(listing) + creates > MAX_TEMPLATES_PER_INSTANCE:
            raise UsageError(
                f"the instance holds {len(listing)} task templates; {creates} more would pass "
                f"the limit of {MAX_TEMPLATES_PER_INSTANCE} (deletes run after creates)"
            )
        kept = () if prune else tuple(sorted(s.name for s in extra))
        return Plan(self.api.instance_id, tuple(items), kept)

    async def apply(self, plan: Plan, backup_root: Path, on_step: Step) -> ApplyReport:
        """Carry ``plan`` out: creates, then updates, then deletes (backed up first)."""
        report = ApplyReport()
        risky = plan.of("update") + plan.of("delete")
        names = file_names([i.name for i in risky])
        if risky:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            base = backup_root / f"{plan.instance_id}-{stamp}"
            report.backup_dir = await anyio.to_thread.run_sync(_new_dir, base)
        for item in plan.of("create"):
            assert item.request is not None
            await self.api.create(item.request, client_token(plan.instance_id, item.request))
            report.done.append(("create", item.name))
            on_step("created", item, None)
        if plan.of("create"):
            await self._check_created([i.name for i in plan.of("create")])
        for item in risky:
            assert item.template_id is not None and report.backup_dir is not None
            current = await self.api.get(item.template_id, item.name)
            if current.get("LastModifiedTime") != item.modified:
                raise TemplateConflictError(
                    f"task template {item.name!r} changed in the instance after the plan was "
                    "made; nothing more was changed: run plan again"
                )
            saved = report.backup_dir / names[item.name]
            await _write(saved, dumps(current))
            if item.action == "update":
                assert item.request is not None
                await self.api.update(item.template_id, item.request)
                on_step("updated", item, saved)
            else:
                await self.api.delete(item.template_id, item.name)
                on_step("deleted", item, saved)
            report.done.append((item.action, item.name))
        return report

    async def _check_created(self, names: Sequence[str]) -> None:
        """Every create must have left a template. A ClientToken already used for a template
        that was deleted since could be answered with that template's id (what Connect does
        then is not documented); a token comes from the instance and the content only."""
        present = {s.name for s in await self.api.summaries()}
        missing = [n for n in names if n not in present]
        if missing:
            raise TemplateApplyError(
                f"created, but not in the instance: {', '.join(map(repr, missing))}. A template "
                "with the same content was probably created and deleted before (same "
                "ClientToken): change the file (e.g. its Description) and apply again"
            )

    async def export(self, target: Path) -> list[Path]:
        """One portable file per template of the instance into ``target``; the paths written."""
        listing = await self.api.summaries()
        catalog = await self.api.catalog()
        docs: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for s in listing:
            try:
                docs[s.name] = to_portable(await self.api.get(s.id, s.name), catalog)
            except LookupError as exc:
                problems.append(f"task template {s.name!r}: {exc}")
        if problems:
            raise UsageError(
                "cannot export by name, nothing was written:\n  " + "\n  ".join(problems)
            )
        names = file_names(list(docs))
        written = []
        for name, doc in docs.items():
            await _write(target / names[name], dumps(doc))
            written.append(target / names[name])
        return written


def _new_dir(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``... : a directory no earlier apply has written to."""
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        return path


async def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole (a temporary file renamed into place)."""

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

    await anyio.to_thread.run_sync(write)


@asynccontextmanager
async def open_sync(options: SyncOptions) -> AsyncIterator[TemplateSync]:
    """A :class:`TemplateSync` with its own Connect client and pacer."""
    async with connect_client(options.aws) as client:
        api = InstanceTemplates(
            client,
            options.instance_id,
            pacer=Pacer(options.rate, options.burst),
            policy=options.retry,
        )
        yield TemplateSync(api)
