"""Every operation driven by boto3 over HTTP: the happy paths and the semantics they pin."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from taskloader.emulator.world import (
    DEFAULT_QUEUES,
    DEFAULT_QUICK_CONNECTS,
    DEFAULT_USERS,
    SECOND_INSTANCE_ID,
)
from tests.emulator.conftest import callback_references, template_params

QUEUE = sorted(DEFAULT_QUEUES)[0]
USER = sorted(DEFAULT_USERS)[0]
QUICK_CONNECT = sorted(DEFAULT_QUICK_CONNECTS)[0]


def test_create_and_get_template_round_trip(connect_client: Any, emulator: Any) -> None:
    """CreateTaskTemplate returns an id and ARN; GetTaskTemplate returns what was stored."""
    params = template_params("callback.json")
    created = connect_client.create_task_template(InstanceId=emulator.instance_id, **params)
    arn = created["Arn"]
    assert arn == (
        f"arn:aws:connect:us-east-1:123456789012:instance/{emulator.instance_id}"
        f"/task-template/{created['Id']}"
    )
    got = connect_client.get_task_template(
        InstanceId=emulator.instance_id, TaskTemplateId=created["Id"]
    )
    assert got["Name"] == "Callback"
    assert got["Status"] == "ACTIVE"
    assert got["Fields"] == params["Fields"]
    assert got["Constraints"] == params["Constraints"]
    assert isinstance(got["CreatedTime"], datetime)
    assert got["CreatedTime"] == got["LastModifiedTime"]


def test_update_is_a_full_replacement_with_snapshot_versions(
    connect_client: Any, emulator: Any, callback_template: str
) -> None:
    """UpdateTaskTemplate replaces the content; each version stays readable by SnapshotVersion."""
    iid = emulator.instance_id
    updated = connect_client.update_task_template(
        InstanceId=iid,
        TaskTemplateId=callback_template,
        Fields=[{"Id": {"Name": "Only"}, "Type": "TEXT"}],
    )
    assert updated["Name"] == "Callback"  # kept: a template always has a name
    assert [f["Id"]["Name"] for f in updated["Fields"]] == ["Only"]
    assert "ContactFlowId" not in updated  # cleared by the full replacement
    assert updated["LastModifiedTime"] >= updated["CreatedTime"]
    first = connect_client.get_task_template(
        InstanceId=iid, TaskTemplateId=callback_template, SnapshotVersion="1"
    )
    assert len(first["Fields"]) == 9
    current = connect_client.get_task_template(InstanceId=iid, TaskTemplateId=callback_template)
    assert len(current["Fields"]) == 1


def test_list_templates_filters_and_pages(connect_client: Any, emulator: Any) -> None:
    """ListTaskTemplates filters by Name and Status and pages with NextToken/MaxResults."""
    iid = emulator.instance_id
    for n in range(5):
        connect_client.create_task_template(
            InstanceId=iid,
            Name=f"T{n}",
            Fields=[],
            Status="INACTIVE" if n % 2 else "ACTIVE",
        )
    seen: list[str] = []
    kwargs: dict[str, Any] = {"InstanceId": iid, "MaxResults": 2}
    while True:
        page = connect_client.list_task_templates(**kwargs)
        assert len(page["TaskTemplates"]) <= 2
        seen += [t["Name"] for t in page["TaskTemplates"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert seen == ["T0", "T1", "T2", "T3", "T4"]
    inactive = connect_client.list_task_templates(InstanceId=iid, Status="INACTIVE")
    assert [t["Name"] for t in inactive["TaskTemplates"]] == ["T1", "T3"]
    named = connect_client.list_task_templates(InstanceId=iid, Name="T2")
    assert [t["Name"] for t in named["TaskTemplates"]] == ["T2"]
    paginated = connect_client.get_paginator("list_task_templates").paginate(
        InstanceId=iid, PaginationConfig={"PageSize": 2}
    )
    assert sum(len(p["TaskTemplates"]) for p in paginated) == 5


def test_delete_template(connect_client: Any, emulator: Any, callback_template: str) -> None:
    """DeleteTaskTemplate removes it: a later GetTaskTemplate is ResourceNotFound."""
    iid = emulator.instance_id
    connect_client.delete_task_template(InstanceId=iid, TaskTemplateId=callback_template)
    with pytest.raises(connect_client.exceptions.ResourceNotFoundException):
        connect_client.get_task_template(InstanceId=iid, TaskTemplateId=callback_template)


def test_start_task_from_template_applies_defaults(
    connect_client: Any, emulator: Any, callback_template: str
) -> None:
    """A template with a flow stands alone; defaults fill missing fields; contact is recorded."""
    iid = emulator.instance_id
    refs = callback_references({"Reason": None})
    started = connect_client.start_task_contact(
        InstanceId=iid,
        Name="Call back Ada",
        TaskTemplateId=callback_template,
        References=refs,
        Attributes={"customer-id": "c_42"},
        ClientToken="token-1",
    )
    [contact] = emulator.contacts()
    assert contact["ContactId"] == started["ContactId"]
    assert contact["ClientToken"] == "token-1"
    assert contact["TaskTemplateId"] == callback_template
    assert contact["References"]["Reason"] == {"Type": "STRING", "Value": "Other"}
    assert contact["References"]["VIP"] == {"Type": "STRING", "Value": "false"}
    assert contact["Attributes"] == {"customer-id": "c_42"}
    assert emulator.stats()["active_tasks"] == 1


def test_same_client_token_replays_the_original_contact(connect_client: Any, emulator: Any) -> None:
    """Idempotency: a repeated ClientToken returns the first ContactId and creates nothing."""
    kwargs = {
        "InstanceId": emulator.instance_id,
        "ContactFlowId": emulator.flow_id,
        "Name": "once",
        "ClientToken": "same-token",
    }
    first = connect_client.start_task_contact(**kwargs)["ContactId"]
    second = connect_client.start_task_contact(**kwargs)["ContactId"]
    assert first == second
    stats = emulator.stats()
    assert stats["contacts_created"] == 1
    assert stats["idempotent_replays"] == 1
    assert stats["duplicate_tokens"] == 0


def test_token_outside_the_window_creates_a_new_contact(connect_client: Any, emulator: Any) -> None:
    """After the idempotency window the token is forgotten; duplicate_tokens counts it."""
    emulator.configure(idempotency_window_s=0.05)
    kwargs = {
        "InstanceId": emulator.instance_id,
        "ContactFlowId": emulator.flow_id,
        "Name": "twice",
        "ClientToken": "late-token",
    }
    first = connect_client.start_task_contact(**kwargs)["ContactId"]
    time.sleep(0.1)
    second = connect_client.start_task_contact(**kwargs)["ContactId"]
    assert first != second
    assert emulator.stats()["duplicate_tokens"] == 1


def test_related_contact_attributes_are_copied(connect_client: Any, emulator: Any) -> None:
    """RelatedContactId copies the related contact's attributes; given ones win."""
    iid = emulator.instance_id
    base = {"InstanceId": iid, "ContactFlowId": emulator.flow_id}
    first = connect_client.start_task_contact(**base, Name="a", Attributes={"x": "1", "y": "2"})[
        "ContactId"
    ]
    second = connect_client.start_task_contact(
        **base, Name="b", RelatedContactId=first, Attributes={"y": "3"}
    )["ContactId"]
    described = connect_client.describe_contact(InstanceId=iid, ContactId=second)["Contact"]
    assert described["Attributes"] == {"x": "1", "y": "3"}
    assert described["RelatedContactId"] == first


def test_quick_connect_flow_and_schedule_and_expiry(connect_client: Any, emulator: Any) -> None:
    """QuickConnectId is a flow source; ScheduledTime and connect:ContactExpiry are kept."""
    when = int(time.time()) + 3600
    started = connect_client.start_task_contact(
        InstanceId=emulator.instance_id,
        QuickConnectId=QUICK_CONNECT,
        Name="later",
        ScheduledTime=when,
        SegmentAttributes={
            "connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": 1440}}}
        },
    )
    described = connect_client.describe_contact(
        InstanceId=emulator.instance_id, ContactId=started["ContactId"]
    )["Contact"]
    assert int(described["ScheduledTimestamp"].timestamp()) == when
    assert described["SegmentAttributes"]["connect:ContactExpiry"]["ValueMap"] == {
        "ExpiryDuration": {"ValueInteger": 1440}
    }


def test_describe_contact_with_template_info(
    connect_client: Any, emulator: Any, callback_template: str
) -> None:
    """DescribeContact returns a TASK with its template info, name and timestamps."""
    iid = emulator.instance_id
    cid = connect_client.start_task_contact(
        InstanceId=iid,
        Name="n",
        Description="d",
        TaskTemplateId=callback_template,
        References=callback_references(),
    )["ContactId"]
    contact = connect_client.describe_contact(InstanceId=iid, ContactId=cid)["Contact"]
    assert contact["Id"] == cid
    assert contact["Channel"] == "TASK"
    assert contact["InitiationMethod"] == "API"
    assert contact["Name"] == "n" and contact["Description"] == "d"
    assert contact["TaskTemplateInfo"]["Name"] == "Callback"
    assert contact["TaskTemplateInfo"]["Arn"].endswith(f"/task-template/{callback_template}")
    assert "DisconnectTimestamp" not in contact


def test_transfer_contact_counts_and_moves_the_task(connect_client: Any, emulator: Any) -> None:
    """TransferContact moves an active task to a flow and a queue, then to a user."""
    iid = emulator.instance_id
    cid = connect_client.start_task_contact(
        InstanceId=iid, ContactFlowId=emulator.flow_id, Name="t"
    )["ContactId"]
    out = connect_client.transfer_contact(
        InstanceId=iid, ContactId=cid, ContactFlowId=emulator.flow_id, QueueId=QUEUE
    )
    assert out["ContactId"] == cid
    assert out["ContactArn"].endswith(f"/contact/{cid}")
    contact = connect_client.describe_contact(InstanceId=iid, ContactId=cid)["Contact"]
    assert contact["QueueInfo"]["Id"] == QUEUE
    assert contact["QueueInfo"]["EnqueueTimestamp"] >= contact["InitiationTimestamp"]
    assert "AgentInfo" not in contact
    connect_client.transfer_contact(
        InstanceId=iid, ContactId=cid, ContactFlowId=emulator.flow_id, UserId=USER
    )
    contact = connect_client.describe_contact(InstanceId=iid, ContactId=cid)["Contact"]
    # AgentInfo is "the agent who accepted the contact" (model): no agent accepted this task
    assert "AgentInfo" not in contact
    (seen,) = emulator.contacts()
    assert (seen["Transfers"], seen["TransferredToUser"]) == (2, USER)


def test_update_contact_and_list_references(connect_client: Any, emulator: Any) -> None:
    """UpdateContact changes name, description and references; ListContactReferences types them."""
    iid = emulator.instance_id
    cid = connect_client.start_task_contact(
        InstanceId=iid,
        ContactFlowId=emulator.flow_id,
        Name="old",
        References={"site": {"Type": "URL", "Value": "https://example.com/a"}},
    )["ContactId"]
    connect_client.update_contact(
        InstanceId=iid,
        ContactId=cid,
        Name="new",
        Description="changed",
        References={
            "count": {"Type": "NUMBER", "Value": "7"},
            "mail": {"Type": "EMAIL", "Value": "a@example.com"},
        },
    )
    contact = connect_client.describe_contact(InstanceId=iid, ContactId=cid)["Contact"]
    assert (contact["Name"], contact["Description"]) == ("new", "changed")
    refs = connect_client.list_contact_references(
        InstanceId=iid, ContactId=cid, ReferenceTypes=["URL", "NUMBER"]
    )["ReferenceSummaryList"]
    assert refs == [
        {"Url": {"Name": "site", "Value": "https://example.com/a"}},
        {"Number": {"Name": "count", "Value": "7"}},
    ]


def test_task_lifetime_and_complete_tasks_end_tasks(connect_client: Any, emulator: Any) -> None:
    """Tasks end after their lifetime, or all at once via /_emulator/complete-tasks."""
    iid = emulator.instance_id
    base = {"InstanceId": iid, "ContactFlowId": emulator.flow_id, "Name": "t"}
    emulator.configure(task_lifetime_s=0.1)
    short = connect_client.start_task_contact(**base)["ContactId"]
    time.sleep(0.15)
    assert emulator.stats()["active_tasks"] == 0
    contact = connect_client.describe_contact(InstanceId=iid, ContactId=short)["Contact"]
    assert "DisconnectTimestamp" in contact
    emulator.configure(task_lifetime_s=None)
    for _ in range(3):
        connect_client.start_task_contact(**base)
    assert emulator.stats()["active_tasks"] == 3
    assert emulator.complete_tasks() == 3
    assert emulator.stats()["active_tasks"] == 0


def test_world_endpoint_describes_the_default_world(emulator: Any) -> None:
    """GET /_emulator/world lists the instances with their flows, quick connects, queues, users."""
    instances = emulator.world()["instances"]
    assert [i["id"] for i in instances] == [emulator.instance_id, SECOND_INSTANCE_ID]
    instance, second = instances
    assert instance["id"] == emulator.instance_id
    assert instance["arn"].endswith(f":instance/{emulator.instance_id}")
    assert emulator.flow_id in instance["contact_flows"]
    assert QUICK_CONNECT in instance["quick_connects"]
    assert QUEUE in instance["queues"] and USER in instance["users"]
    # The second instance: the same flow and quick-connect names under other ids.
    assert not set(second["contact_flows"]) & set(instance["contact_flows"])
    assert sorted(second["names"].values()) == sorted(instance["names"].values())
