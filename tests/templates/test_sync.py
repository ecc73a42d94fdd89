"""Templates as code over HTTP: export from instance A, plan and apply to instance B.

The default emulator world has two instances whose flows and quick connects share names but not
ids; every command runs through the real CLI and the real SDK, and the truth is read back with
GetTaskTemplate and the emulator's request counters.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from taskloader.aws import AwsOptions
from taskloader.cli import main
from taskloader.emulator import EmulatorSettings, running_emulator, server
from taskloader.emulator.world import DEFAULT_QUICK_CONNECTS, SECOND_FLOWS, SECOND_INSTANCE_ID
from taskloader.run.template_sync import (
    SyncOptions,
    TemplateApplyError,
    TemplateConflictError,
    load_dir,
    open_sync,
)
from taskloader.templates.portable import parse_template
from taskloader.templates.request import Catalog, client_token, to_request
from tests.emulator.conftest import template_params

B = SECOND_INSTANCE_ID
WRITES = ("CreateTaskTemplate", "UpdateTaskTemplate", "DeleteTaskTemplate")
FAST = ["--rate", "200", "--burst", "50"]


def tl(emulator: Any, *args: str, instance: str | None = None) -> Result:
    """``taskloader templates <args>`` against the emulator (`validate` is offline)."""
    common = (
        [] if args[0] == "validate" else ["--endpoint-url", emulator.url, "--region", "us-east-1"]
    )
    if instance is not None:
        common += ["--instance-id", instance]
    return CliRunner().invoke(main, ["templates", *args, *common])


def writes(emulator: Any, since: dict[str, int] | None = None) -> dict[str, int]:
    """Template writes the emulator received (after those counted in ``since``)."""
    requests = emulator.stats()["requests"]
    counts = {op: sum(requests.get(op, {}).values()) for op in WRITES}
    return {
        op: n - (since or {}).get(op, 0) for op, n in counts.items() if n - (since or {}).get(op, 0)
    }


def by_name(connect_client: Any, instance: str) -> dict[str, dict[str, Any]]:
    listed = connect_client.list_task_templates(InstanceId=instance)["TaskTemplates"]
    return {
        t["Name"]: connect_client.get_task_template(InstanceId=instance, TaskTemplateId=t["Id"])
        for t in listed
    }


@pytest.fixture(autouse=True)
def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Default backups go under the current directory: keep them in the test's own."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def dev(emulator: Any, connect_client: Any) -> str:
    """Instance A with the three example templates and one with a QUICK_CONNECT default."""
    for name in ("callback.json", "follow-up.json", "no-flow.json"):
        connect_client.create_task_template(
            InstanceId=emulator.instance_id, **template_params(name)
        )
    connect_client.create_task_template(
        InstanceId=emulator.instance_id,
        Name="Escalate",
        ContactFlowId=sorted(emulator.world()["instances"][0]["contact_flows"])[1],
        Fields=[
            {"Id": {"Name": "Task name"}, "Type": "NAME"},
            {"Id": {"Name": "Assign to"}, "Type": "QUICK_CONNECT"},
        ],
        Defaults={
            "DefaultFieldValues": [
                {"Id": {"Name": "Assign to"}, "DefaultValue": sorted(DEFAULT_QUICK_CONNECTS)[1]}
            ]
        },
    )
    return str(emulator.instance_id)


@pytest.fixture
def exported(emulator: Any, dev: str, tmp_path: Path) -> Path:
    out = tmp_path / "templates"
    result = tl(emulator, "export", str(out), *FAST, instance=dev)
    assert result.exit_code == 0, result.output
    return out


def test_export_writes_portable_files(emulator: Any, exported: Path, dev: str) -> None:
    """One file per template, flows and quick connects by name, nothing server-assigned; a second
    export writes the same bytes and names a file it did not write."""
    files = {p.name: p.read_text() for p in exported.glob("*.json")}
    assert sorted(files) == [
        "back-office-review.json", "callback.json", "escalate.json", "follow-up.json"
    ]  # fmt: skip
    callback = json.loads(files["callback.json"])
    assert callback["ContactFlow"] == "Callback flow"
    assert not {"Id", "Arn", "ContactFlowId", "CreatedTime", "LastModifiedTime"} & set(callback)
    assert list(callback) == [
        "Name", "Description", "Status", "ContactFlow", "Fields", "Constraints", "Defaults"
    ]  # fmt: skip
    escalate = json.loads(files["escalate.json"])
    assert escalate["ContactFlow"] == "Escalation flow"
    assert escalate["Defaults"]["DefaultFieldValues"] == [
        {"Id": {"Name": "Assign to"}, "QuickConnect": "Support queue"}
    ]
    again = tl(emulator, "export", str(exported), *FAST, instance=dev)
    assert again.exit_code == 0
    assert {p.name: p.read_text() for p in exported.glob("*.json")} == files
    (exported / "gone.json").write_text("{}")
    stale = tl(emulator, "export", str(exported), *FAST, instance=dev)
    assert "left as they were (1 files of templates not in the instance?): gone.json" in (
        stale.output
    )


def test_apply_to_another_instance_then_again_is_a_no_op(
    emulator: Any, connect_client: Any, exported: Path
) -> None:
    """Export A -> apply B creates every template with B's ids; a second apply sends no write."""
    base = writes(emulator)
    first = tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B)
    assert first.exit_code == 0, first.output
    assert "applied: 4 created, 0 updated, 0 deleted" in first.output
    in_b = by_name(connect_client, B)
    assert sorted(in_b) == ["Back-office review", "Callback", "Escalate", "Follow-up"]
    flow_b = sorted(SECOND_FLOWS)
    assert in_b["Callback"]["ContactFlowId"] == flow_b[0]
    assert in_b["Escalate"]["ContactFlowId"] == flow_b[1]
    [default] = in_b["Escalate"]["Defaults"]["DefaultFieldValues"]
    world_b = emulator.world()["instances"][1]
    assert world_b["names"][default["DefaultValue"]] == "Support queue"
    assert default["DefaultValue"] in world_b["quick_connects"]
    before = writes(emulator, base)
    assert before == {"CreateTaskTemplate": 4}

    second = tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B)
    assert second.exit_code == 0, second.output
    assert "nothing to do" in second.output
    plan = tl(emulator, "plan", str(exported), "--format", "json", *FAST, instance=B)
    assert plan.exit_code == 0
    summary = json.loads(plan.stdout)
    assert [len(summary[k]) for k in ("create", "update", "delete", "unchanged")] == [0, 0, 0, 4]
    assert writes(emulator, base) == before


def test_an_edit_shows_exactly_its_diff_then_applies(
    emulator: Any, connect_client: Any, exported: Path
) -> None:
    """Add a field, change options, set INACTIVE: the plan shows exactly those changes, apply
    makes them, GetTaskTemplate shows them."""
    base = writes(emulator)
    assert tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B).exit_code == 0
    path = exported / "callback.json"
    doc = json.loads(path.read_text())
    doc["Status"] = "INACTIVE"
    doc["Fields"].append({"Id": {"Name": "Region"}, "Type": "TEXT"})
    [reason] = [f for f in doc["Fields"] if f["Id"]["Name"] == "Reason"]
    reason["SingleSelectOptions"] = ["Billing", "Technical", "Other", "Complaint"]
    path.write_text(json.dumps(doc, indent=2))

    plan = tl(emulator, "plan", str(exported), "--format", "json", *FAST, instance=B)
    assert plan.exit_code == 0, plan.output
    summary = json.loads(plan.stdout)
    assert [u["name"] for u in summary["update"]] == ["Callback"]
    assert len(summary["unchanged"]) == 3 and not summary["create"] and not summary["delete"]
    [update] = summary["update"]
    assert update["changed"] == ["Fields", "Status"]
    assert update["changes"] == [
        {"member": "Status", "change": "changed", "before": "ACTIVE", "after": "INACTIVE"},
        {"member": "Fields", "change": "options", "field": "Reason",
         "before": ["Billing", "Technical", "Sales", "Other"],
         "after": ["Billing", "Technical", "Other", "Complaint"]},
        {"member": "Fields", "change": "added", "field": "Region", "before": None,
         "after": "TEXT"},
    ]  # fmt: skip
    text = tl(emulator, "plan", str(exported), *FAST, instance=B).output
    assert "~ Fields 'Reason' options:" in text and "(-'Sales', +'Complaint')" in text

    applied = tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B)
    assert applied.exit_code == 0, applied.output
    callback = by_name(connect_client, B)["Callback"]
    assert callback["Status"] == "INACTIVE"
    assert callback["Fields"][-1] == {"Id": {"Name": "Region"}, "Type": "TEXT"}
    [reason_now] = [f for f in callback["Fields"] if f["Id"]["Name"] == "Reason"]
    assert reason_now["SingleSelectOptions"] == ["Billing", "Technical", "Other", "Complaint"]
    assert writes(emulator, base) == {"CreateTaskTemplate": 4, "UpdateTaskTemplate": 1}
    [saved] = Path("templates-taskloader", "template-backups").glob("*/callback.json")
    assert json.loads(saved.read_text())["Status"] == "ACTIVE"  # as it was before the update


def test_prune_deletes_only_with_the_flag_and_backs_up_first(
    emulator: Any, connect_client: Any, exported: Path, tmp_path: Path
) -> None:
    """Without --prune an extra template is kept; with it, it is saved, then deleted; applying
    the backup brings it back as it was."""
    assert tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B).exit_code == 0
    original = by_name(connect_client, B)["Follow-up"]
    (exported / "follow-up.json").unlink()

    kept = tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B)
    assert kept.exit_code == 0
    assert "kept (--prune deletes them): 'Follow-up'" in kept.output
    assert "Follow-up" in by_name(connect_client, B)
    assert "DeleteTaskTemplate" not in writes(emulator)  # (the fixtures only create)

    plan = tl(emulator, "plan", str(exported), "--prune", "--format", "json", *FAST, instance=B)
    assert [d["name"] for d in json.loads(plan.stdout)["delete"]] == ["Follow-up"]
    backups = tmp_path / "backups"
    pruned = tl(emulator, "apply", str(exported), "--prune", "--yes", "--backup", str(backups),
                *FAST, instance=B)  # fmt: skip
    assert pruned.exit_code == 0, pruned.output
    assert "Follow-up" not in by_name(connect_client, B)
    [run_dir] = list(backups.iterdir())
    saved = json.loads((run_dir / "follow-up.json").read_text())
    assert saved["Id"] == original["Id"]  # the API form, as it was before the delete
    assert saved["Fields"] == original["Fields"]

    # The undo command printed names the instance (run as printed, with the --yes this
    # terminal-less test needs, it restores the template).
    assert f"undo with: taskloader templates apply {run_dir} --instance-id {B}" in pruned.output
    undo = tl(emulator, "apply", str(run_dir), "--yes", *FAST, instance=B)
    assert undo.exit_code == 0, undo.output
    restored = by_name(connect_client, B)["Follow-up"]
    for member in ("Fields", "Constraints", "Defaults", "ContactFlowId", "Description"):
        assert restored[member] == original[member]


def test_off_a_terminal_apply_refuses_without_yes(emulator: Any, exported: Path) -> None:
    """No --yes and no terminal: exit 2, the plan shown, nothing written."""
    base = writes(emulator)
    result = tl(emulator, "apply", str(exported), *FAST, instance=B)
    assert result.exit_code == 2
    assert "4 to create" in result.output and "--yes" in result.output
    assert writes(emulator, base) == {}


def _set_flow(path: Path, flow: str) -> None:
    doc = json.loads(path.read_text())
    doc["ContactFlow"] = flow
    path.write_text(json.dumps(doc))


def _many_fields(path: Path, _: str) -> None:
    doc = json.loads(path.read_text())
    doc["Fields"] += [{"Id": {"Name": f"Extra {n}"}, "Type": "TEXT"} for n in range(42)]
    path.write_text(json.dumps(doc))


def _unknown_default(path: Path, _: str) -> None:
    doc = json.loads(path.read_text())
    doc["Defaults"]["DefaultFieldValues"].append({"Id": {"Name": "Colour"}, "DefaultValue": "blue"})
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "expected", "offline"),
    [
        (lambda p, _: _set_flow(p, "Nightly flow"), "ContactFlow: no flow named 'Nightly flow'",
         False),
        (_many_fields, "Fields: 51 fields; a template has at most 50", True),
        (_unknown_default, "Defaults 'Colour': names a field that the template does not define",
         True),
    ],
    ids=["unresolved-flow", "51-fields", "default-for-unknown-field"],
)  # fmt: skip
def test_bad_files_are_clear_errors_and_nothing_is_sent(
    emulator: Any,
    exported: Path,
    edit: Callable[[Path, str], None],
    expected: str,
    offline: bool,
) -> None:
    """Each problem names the file and the member; plan and apply exit 2 and write nothing;
    a rule of the file itself is found before any call at all."""
    path = exported / "callback.json"
    edit(path, "")
    base = writes(emulator)
    before = emulator.stats()["requests"]
    for command in (["plan"], ["apply", "--yes"]):
        result = tl(emulator, command[0], str(exported), *command[1:], *FAST, instance=B)
        assert result.exit_code == 2, result.output
        assert f"{path}: {expected}" in result.output
        assert "Traceback" not in result.output
    if offline:
        assert emulator.stats()["requests"] == before
        checked = tl(emulator, "validate", str(exported))
        assert checked.exit_code == 2 and f"{path}: {expected}" in checked.output
    assert writes(emulator, base) == {}


def test_validate_accepts_exported_files_and_names_an_api_member(
    emulator: Any, exported: Path
) -> None:
    """validate is offline; a ContactFlowId in a portable file is named as instance-specific."""
    assert tl(emulator, "validate", str(exported)).exit_code == 0
    path = exported / "escalate.json"
    doc = json.loads(path.read_text())
    doc["ContactFlowId"] = doc.pop("ContactFlow")
    path.write_text(json.dumps(doc))
    result = tl(emulator, "validate", str(exported))
    assert result.exit_code == 2
    assert f"{path}: ContactFlowId: is instance-specific: name the flow with 'ContactFlow'" in (
        result.output
    )


def test_throttled_template_calls_are_retried(
    emulator: Any, connect_client: Any, exported: Path
) -> None:
    """With the template operations' quota tight in the emulator, apply still converges: the
    throttles are retried by the run's retry loop and slow its pacer."""
    emulator.configure(quotas={op: {"rate": 50.0, "burst": 2} for op in (
        "CreateTaskTemplate", "ListTaskTemplates", "GetTaskTemplate")})  # fmt: skip
    os.environ["TASKLOADER_BACKOFF_BASE"] = "0.01"
    os.environ["TASKLOADER_BACKOFF_CAP"] = "0.05"
    try:
        result = tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B)
    finally:
        del os.environ["TASKLOADER_BACKOFF_BASE"], os.environ["TASKLOADER_BACKOFF_CAP"]
    assert result.exit_code == 0, result.output
    stats = emulator.stats()
    assert stats["throttled"] > 0
    assert len(connect_client.list_task_templates(InstanceId=B)["TaskTemplates"]) == 4


def test_sigkill_mid_apply_then_reapply_converges(
    emulator: Any, connect_client: Any, tmp_path: Path
) -> None:
    """Kill `apply` after some creates; the re-run creates only the rest, none twice."""
    files = tmp_path / "many"
    files.mkdir()
    names = [f"Queue task {n}" for n in range(8)]
    for name in names:
        doc = {"Name": name, "ContactFlow": "Callback flow",
               "Fields": [{"Id": {"Name": "Task name"}, "Type": "NAME"}]}  # fmt: skip
        (files / f"{name.replace(' ', '-')}.json").write_text(json.dumps(doc))
    # Slow answers keep the kill inside the creates even on a loaded machine (a window of
    # seconds between the second create and the last).
    emulator.configure(faults={"latency_ms": 700.0})
    env = {**os.environ, "AWS_ENDPOINT_URL_CONNECT": emulator.url}
    log = tmp_path / "apply.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taskloader", "templates", "apply", str(files), "--yes",
             "--instance-id", B, "--region", "us-east-1", *FAST],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while emulator.stats()["requests"].get("CreateTaskTemplate", {}).get("200", 0) < 2:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "apply never started creating"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    created_before = emulator.stats()["requests"]["CreateTaskTemplate"]["200"]
    assert 2 <= created_before < len(names)

    emulator.configure(faults={"latency_ms": 0.0})
    again = tl(emulator, "apply", str(files), "--yes", *FAST, instance=B)
    assert again.exit_code == 0, again.output
    listed = connect_client.list_task_templates(InstanceId=B)["TaskTemplates"]
    assert sorted(t["Name"] for t in listed) == sorted(names)
    assert emulator.stats()["requests"]["CreateTaskTemplate"]["200"] == len(names)
    assert "nothing to do" in tl(emulator, "apply", str(files), "--yes", *FAST, instance=B).output


def test_a_create_sent_again_with_its_token_makes_nothing_new(
    emulator: Any, connect_client: Any, exported: Path
) -> None:
    """The ClientToken apply sends is derived from the instance and the file: sending that
    create again (as after a lost answer) returns the template made first."""
    assert tl(emulator, "apply", str(exported), "--yes", *FAST, instance=B).exit_code == 0
    flows = connect_client.list_contact_flows(InstanceId=B)["ContactFlowSummaryList"]
    quick = connect_client.list_quick_connects(InstanceId=B)["QuickConnectSummaryList"]
    catalog = Catalog({f["Id"]: f["Name"] for f in flows}, {q["Id"]: q["Name"] for q in quick})
    spec = parse_template(json.loads((exported / "callback.json").read_text()), "callback.json")
    request = to_request(spec, catalog)
    again = connect_client.create_task_template(
        InstanceId=B, ClientToken=client_token(B, request), **request
    )
    assert again["Id"] == by_name(connect_client, B)["Callback"]["Id"]
    assert len(connect_client.list_task_templates(InstanceId=B)["TaskTemplates"]) == 4


async def test_a_template_changed_after_the_plan_is_not_overwritten(
    emulator: Any, connect_client: Any, exported: Path
) -> None:
    """UpdateTaskTemplate has no version check: apply re-reads each template and stops if it
    changed since the plan, rather than overwrite someone else's edit."""
    options = SyncOptions(AwsOptions(region="us-east-1", connect_endpoint=emulator.url), B)
    backups = exported.parent / "backups"
    async with open_sync(options) as engine:
        first = await engine.plan(load_dir(exported), prune=False)
        assert (await engine.apply(first, backups, lambda *_: None)).count("create") == 4
        path = exported / "callback.json"
        path.write_text(path.read_text().replace('"ACTIVE"', '"INACTIVE"'))
        plan = await engine.plan(load_dir(exported), prune=False)
        [item] = plan.of("update")
        connect_client.update_task_template(
            InstanceId=B, TaskTemplateId=item.template_id, Name="Callback",
            Description="edited by someone else", Fields=[],
        )  # fmt: skip
        with pytest.raises(TemplateConflictError, match="changed in the instance after the plan"):
            await engine.apply(plan, backups, lambda *_: None)
    assert by_name(connect_client, B)["Callback"]["Description"] == "edited by someone else"


async def test_a_template_edited_after_a_prune_plan_is_not_deleted(
    emulator: Any, connect_client: Any, exported: Path
) -> None:
    """A delete is checked like an update: a template someone edited after the plan is not
    deleted; apply stops before changing anything more."""
    options = SyncOptions(AwsOptions(region="us-east-1", connect_endpoint=emulator.url), B)
    backups = exported.parent / "backups"
    async with open_sync(options) as engine:
        await engine.apply(await engine.plan(load_dir(exported), prune=False), backups, print)
        (exported / "follow-up.json").unlink()
        plan = await engine.plan(load_dir(exported), prune=True)
        [item] = plan.of("delete")
        connect_client.update_task_template(
            InstanceId=B, TaskTemplateId=item.template_id, Name="Follow-up",
            Description="edited by someone else", Fields=[],
        )  # fmt: skip
        with pytest.raises(TemplateConflictError, match="changed in the instance after the plan"):
            await engine.apply(plan, backups, lambda *_: None)
    assert by_name(connect_client, B)["Follow-up"]["Description"] == "edited by someone else"


@pytest.mark.parametrize(("answer", "code", "created"), [("n", 1, 0), ("y", 0, 4)])
def test_on_a_terminal_apply_asks_first(
    emulator: Any, connect_client: Any, exported: Path, answer: str, code: int, created: int
) -> None:
    """With a terminal on standard input, apply shows the plan and asks: "n" changes nothing
    (exit 1), "y" applies."""
    main_fd, terminal = pty.openpty()
    env = {**os.environ, "AWS_ENDPOINT_URL_CONNECT": emulator.url}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taskloader", "templates", "apply", str(exported),
             "--instance-id", B, "--region", "us-east-1", *FAST],
            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        os.write(main_fd, f"{answer}\n".encode())
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(main_fd)
        os.close(terminal)
    assert proc.returncode == code, out.decode()
    assert f"Apply this plan to instance {B}?" in out.decode()
    assert len(connect_client.list_task_templates(InstanceId=B)["TaskTemplates"]) == created


async def test_a_create_answered_with_a_deleted_template_is_caught(
    monkeypatch: pytest.MonkeyPatch, exported: Path
) -> None:
    """If the service answers a create with an earlier template (its ClientToken was used
    before, for a template deleted since), apply notices the template is missing and stops."""

    def create_nothing(b: Any, op: Any, p: dict[str, Any]) -> dict[str, Any]:
        return {"Id": "deleted-earlier", "Arn": "arn:aws:connect:::deleted-earlier"}

    monkeypatch.setitem(server.OPERATIONS, "CreateTaskTemplate", create_nothing)
    async with running_emulator(EmulatorSettings().without_limits()) as emu:
        options = SyncOptions(AwsOptions(region="us-east-1", connect_endpoint=emu.url), B)
        async with open_sync(options) as engine:
            plan = await engine.plan(load_dir(exported), prune=False)
            with pytest.raises(TemplateApplyError, match="created, but not in the instance"):
                await engine.apply(plan, exported.parent / "backups", lambda *_: None)
