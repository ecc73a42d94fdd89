"""Unchanged real clients against the emulator: aiobotocore, the AWS CLI, the endpoint variable."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from tests.conftest import NO_RETRIES, AwsCliError
from tests.emulator.conftest import callback_references, template_params


async def test_every_operation_with_aiobotocore(aio_connect_client: Any, emulator: Any) -> None:
    """All ten operations through aiobotocore's async client."""
    client, iid = aio_connect_client, emulator.instance_id
    created = await client.create_task_template(InstanceId=iid, **template_params("callback.json"))
    tid = created["Id"]
    assert (await client.get_task_template(InstanceId=iid, TaskTemplateId=tid))[
        "Name"
    ] == "Callback"
    listed = await client.list_task_templates(InstanceId=iid)
    assert [t["Id"] for t in listed["TaskTemplates"]] == [tid]
    updated = await client.update_task_template(
        InstanceId=iid, TaskTemplateId=tid, Name="Callback v2",
        **{k: v for k, v in template_params("callback.json").items() if k != "Name"},
    )  # fmt: skip
    assert updated["Name"] == "Callback v2"
    cid = (
        await client.start_task_contact(
            InstanceId=iid, Name="n", TaskTemplateId=tid, References=callback_references()
        )
    )["ContactId"]
    described = await client.describe_contact(InstanceId=iid, ContactId=cid)
    assert described["Contact"]["TaskTemplateInfo"]["Name"] == "Callback v2"
    await client.update_contact(InstanceId=iid, ContactId=cid, Description="updated")
    refs = await client.list_contact_references(
        InstanceId=iid, ContactId=cid, ReferenceTypes=["NUMBER"]
    )
    assert refs["ReferenceSummaryList"] == [{"Number": {"Name": "Account number", "Value": "1815"}}]
    moved = await client.transfer_contact(
        InstanceId=iid, ContactId=cid, ContactFlowId=emulator.flow_id
    )
    assert moved["ContactId"] == cid
    await client.delete_task_template(InstanceId=iid, TaskTemplateId=tid)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await client.get_task_template(InstanceId=iid, TaskTemplateId=tid)
    ops = set(emulator.stats()["requests"])
    assert len(ops) == 10


def test_endpoint_from_aws_endpoint_url_connect(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 finds the emulator through AWS_ENDPOINT_URL_CONNECT alone."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", emulator.url)
    client = boto3.client("connect", config=NO_RETRIES)
    assert client.list_task_templates(InstanceId=emulator.instance_id)["TaskTemplates"] == []
    assert emulator.stats()["requests"]["ListTaskTemplates"] == {"200": 1}


def test_every_operation_with_the_aws_cli(aws_cli: Any, emulator: Any) -> None:
    """One `aws connect` call per operation (the independent ones run side by side)."""
    iid = emulator.instance_id
    params = template_params("follow-up.json")
    tid = aws_cli(
        "create-task-template", "--instance-id", iid, "--name", params["Name"],
        "--contact-flow-id", params["ContactFlowId"], "--fields", json.dumps(params["Fields"]),
        "--constraints", json.dumps(params["Constraints"]),
        "--defaults", json.dumps(params["Defaults"]),
    )["Id"]  # fmt: skip
    cid = aws_cli(
        "start-task-contact", "--instance-id", iid, "--name", "From the CLI",
        "--task-template-id", tid,
        "--references", json.dumps({"Ticket": {"Type": "URL", "Value": "https://t.example/1"}}),
    )["ContactId"]  # fmt: skip
    # Read before the concurrent batch below updates the template.
    got = aws_cli("get-task-template", "--instance-id", iid, "--task-template-id", tid)
    calls = {
        "list": ("list-task-templates", "--instance-id", iid),
        "update": ("update-task-template", "--instance-id", iid, "--task-template-id", tid,
                   "--name", "Follow-up v2", "--fields", json.dumps(params["Fields"])),
        "describe": ("describe-contact", "--instance-id", iid, "--contact-id", cid),
        "refs": ("list-contact-references", "--instance-id", iid, "--contact-id", cid,
                 "--reference-types", "URL"),
        "update-contact": ("update-contact", "--instance-id", iid, "--contact-id", cid,
                           "--name", "Renamed"),
        "transfer": ("transfer-contact", "--instance-id", iid, "--contact-id", cid,
                     "--contact-flow-id", emulator.flow_id),
    }  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(calls, pool.map(lambda args: aws_cli(*args), calls.values()), strict=True)
        )
    assert got["Name"] == "Follow-up"
    assert results["list"]["TaskTemplates"][0]["Id"] == tid
    assert results["update"]["Name"] == "Follow-up v2"
    assert results["describe"]["Contact"]["Channel"] == "TASK"
    assert results["refs"]["ReferenceSummaryList"] == [
        {"Url": {"Name": "Ticket", "Value": "https://t.example/1"}}
    ]
    assert results["update-contact"] == {}
    assert results["transfer"]["ContactId"] == cid
    assert aws_cli("delete-task-template", "--instance-id", iid, "--task-template-id", tid) == {}
    with pytest.raises(AwsCliError) as info:
        aws_cli("get-task-template", "--instance-id", iid, "--task-template-id", tid)
    assert "ResourceNotFoundException" in info.value.stderr
