"""Where the emulator follows Amazon Connect's documented rules, and taskloader validate with it.

Each test names its source: the StartTaskContact page in /work/shared/seeds (the API reference),
the documentation strings of botocore's Connect model (the wire contract), or AWS's general
idempotency rule. docs/emulator.md's "Fidelity" section lists the same rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.emulator.world import DEFAULT_QUEUES, DEFAULT_QUICK_CONNECTS, DEFAULT_USERS
from tests.emulator.conftest import callback_references

QUEUE = sorted(DEFAULT_QUEUES)[0]
USER = sorted(DEFAULT_USERS)[0]
QUICK_CONNECT = sorted(DEFAULT_QUICK_CONNECTS)[0]


def error_of(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


# -- StartTaskContact: one flow source ------------------------------------------------------


def test_a_template_with_its_own_flow_takes_no_other(
    connect_client: Any, emulator: Any, callback_template: str, aws_cli: Any
) -> None:
    """StartTaskContact page: "include only one of these parameters: ContactFlowID,
    QuickConnectID, or TaskTemplateID ... If more than one parameter is specified ... the
    request returns an error". The Callback template has a flow of its own."""
    base = {
        "InstanceId": emulator.instance_id,
        "Name": "n",
        "TaskTemplateId": callback_template,
        "References": callback_references(),
    }
    start = connect_client.start_task_contact
    assert error_of(start, **base, ContactFlowId=emulator.flow_id) == (
        "InvalidRequestException",
        400,
    )
    assert error_of(start, **base, QuickConnectId=QUICK_CONNECT)[0] == "InvalidRequestException"
    start(**base)  # the template's own flow alone is the one way
    with pytest.raises(Exception, match="InvalidRequestException"):
        aws_cli(
            "start-task-contact", "--instance-id", emulator.instance_id, "--name", "n",
            "--task-template-id", callback_template, "--contact-flow-id", emulator.flow_id,
            "--references", json.dumps(callback_references()),
        )  # fmt: skip
    assert emulator.stats()["contacts_created"] == 1


CSV_HEADER = "key,template,name,Customer name,Account number,contact_flow_id"
#: (Account number, contact_flow_id column): the same cells through validate and the emulator
AGREEMENT = [
    ("1815", ""),
    ("-0.5", ""),
    ("1e3", ""),
    ("+5", ""),
    ("1.", ""),
    (".5", ""),
    ("1e400", ""),
    ("007", ""),
    ("1815", "flow"),  # a flow beside the template's own
]


def test_validate_and_the_emulator_agree_row_for_row(
    connect_client: Any, emulator: Any, callback_template: str, tmp_path: Path
) -> None:
    """A row `taskloader validate` passes is one the emulator accepts, and the reverse: the
    NUMBER rule is one definition (taskloader.mapping.formats) and the flow rule is the page's.
    """
    lines = [CSV_HEADER]
    for n, (number, flow) in enumerate(AGREEMENT, start=1):
        flow_id = emulator.flow_id if flow else ""
        lines.append(f"k{n},Callback,Task {n},Ada,{number},{flow_id}")
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.jsonl"
    result = CliRunner().invoke(
        main,
        ["validate", str(path), "--endpoint-url", emulator.url, "--instance-id",
         emulator.instance_id, "--region", "us-east-1", "--report", str(report)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    refused_by_validate = {
        json.loads(line)["row"] for line in report.read_text(encoding="utf-8").splitlines()
    }
    refused_by_emulator = set()
    for n, (number, flow) in enumerate(AGREEMENT, start=1):
        params: dict[str, Any] = {
            "InstanceId": emulator.instance_id,
            "Name": f"Task {n}",
            "TaskTemplateId": callback_template,
            "References": callback_references({"Account number": {"Type": "NUMBER",
                                                                  "Value": number}}),
        }  # fmt: skip
        if flow:
            params["ContactFlowId"] = emulator.flow_id
        try:
            connect_client.start_task_contact(**params)
        except ClientError:
            refused_by_emulator.add(n)
    assert refused_by_validate == refused_by_emulator == {4, 5, 6, 7, 8, 9}
    problems = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    codes = {p["row"]: {q["code"] for q in p["taskloader.problems"]} for p in problems}
    assert codes[9] == {"ambiguous_flow"}
    assert all("invalid_number" in codes[n] for n in (4, 5, 6, 7, 8))


# -- TransferContact, UpdateContact, DescribeContact ----------------------------------------


def _task(connect_client: Any, emulator: Any, **extra: Any) -> str:
    return str(
        connect_client.start_task_contact(
            InstanceId=emulator.instance_id, ContactFlowId=emulator.flow_id, Name="t", **extra
        )["ContactId"]
    )


def test_transfer_to_a_queue_and_a_user_at_once_is_refused(
    connect_client: Any, emulator: Any, aws_cli: Any
) -> None:
    """TransferContact (model docs): "Do not use both QueueId and UserId in the same call."."""
    cid = _task(connect_client, emulator)
    call = {"InstanceId": emulator.instance_id, "ContactId": cid,
            "ContactFlowId": emulator.flow_id, "QueueId": QUEUE, "UserId": USER}  # fmt: skip
    assert error_of(connect_client.transfer_contact, **call) == ("InvalidRequestException", 400)
    with pytest.raises(Exception, match="InvalidRequestException"):
        aws_cli(
            "transfer-contact", "--instance-id", emulator.instance_id, "--contact-id", cid,
            "--contact-flow-id", emulator.flow_id, "--queue-id", QUEUE, "--user-id", USER,
        )  # fmt: skip
    assert emulator.contacts()[0]["Transfers"] == 0


@pytest.mark.parametrize(
    "member",
    [
        {"QueueInfo": {"Id": QUEUE}},
        {"UserInfo": {"UserId": USER}},
        {"CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+15550100"}},
        {"SystemEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+15550101"}},
    ],
    ids=lambda m: next(iter(m)),
)
def test_update_contact_refuses_external_audio_members_on_tasks(
    member: dict[str, Any], connect_client: Any, emulator: Any
) -> None:
    """UpdateContact (model docs of QueueInfo, UserInfo, CustomerEndpoint, SystemEndpoint):
    "can only be updated for external audio contacts"."""
    cid = _task(connect_client, emulator)
    update = connect_client.update_contact
    got = error_of(update, InstanceId=emulator.instance_id, ContactId=cid, Name="x", **member)
    assert got == ("InvalidRequestException", 400)
    contact = connect_client.describe_contact(InstanceId=emulator.instance_id, ContactId=cid)
    assert contact["Contact"]["Name"] == "t"  # nothing of the refused call was applied
    assert "QueueInfo" not in contact["Contact"]


def test_a_chained_task_names_the_first_contact_as_initial(
    connect_client: Any, emulator: Any
) -> None:
    """DescribeContact (model docs): InitialContactId, "If this contact is related to other
    contacts, this is the ID of the initial contact"."""
    first = _task(connect_client, emulator)
    second = _task(connect_client, emulator, PreviousContactId=first)
    third = _task(connect_client, emulator, PreviousContactId=second)
    describe = connect_client.describe_contact
    for cid in (first, second, third):
        contact = describe(InstanceId=emulator.instance_id, ContactId=cid)["Contact"]
        assert contact["InitialContactId"] == first
    assert (
        describe(InstanceId=emulator.instance_id, ContactId=third)["Contact"]["PreviousContactId"]
        == second
    )


# -- ClientToken reused with other parameters ----------------------------------------------


def test_a_reused_client_token_with_other_parameters_is_refused_everywhere(
    connect_client: Any, emulator: Any
) -> None:
    """Same token, same parameters: the first answer again. Same token, other parameters:
    409 IdempotencyException for every operation (AWS's rule; see emulator/idempotency.py)."""
    iid = emulator.instance_id
    start = {"InstanceId": iid, "ContactFlowId": emulator.flow_id, "ClientToken": "tok-1"}
    cid = connect_client.start_task_contact(**start, Name="a")["ContactId"]
    assert connect_client.start_task_contact(**start, Name="a")["ContactId"] == cid
    assert error_of(connect_client.start_task_contact, **start, Name="b") == (
        "IdempotencyException",
        409,
    )
    create = {"InstanceId": iid, "Fields": [], "ClientToken": "tok-2"}
    tid = connect_client.create_task_template(**create, Name="T")["Id"]
    assert connect_client.create_task_template(**create, Name="T")["Id"] == tid
    assert error_of(connect_client.create_task_template, **create, Name="U") == (
        "IdempotencyException",
        409,
    )
    transfer = {"InstanceId": iid, "ContactId": cid, "ContactFlowId": emulator.flow_id,
                "ClientToken": "tok-3"}  # fmt: skip
    connect_client.transfer_contact(**transfer, QueueId=QUEUE)
    connect_client.transfer_contact(**transfer, QueueId=QUEUE)
    assert error_of(connect_client.transfer_contact, **transfer, UserId=USER) == (
        "IdempotencyException",
        409,
    )
    stats = emulator.stats()
    assert (stats["contacts_created"], stats["templates"]) == (1, 1)
    assert emulator.contacts()[0]["Transfers"] == 1
