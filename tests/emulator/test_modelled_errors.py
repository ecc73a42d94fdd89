"""Each modelled error of each operation, provoked over HTTP and checked as botocore sees it.

The last test checks that the cases here cover every (operation, error) pair in the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.loaders import Loader

from taskloader.emulator import EmulatorSettings, EmulatorThread, Instance, default_world
from taskloader.emulator.model import OPERATIONS
from taskloader.emulator.world import DEFAULT_QUEUES
from tests.conftest import NO_RETRIES, REGION

UNKNOWN_INSTANCE = "99999999-9999-4999-8999-999999999999"
INACTIVE_INSTANCE = "00000000-0000-4000-8000-00000000dead"
DENIED_KEY = "AKIDDENIEDDENIED"
REPLICA_INSTANCE = "00000000-0000-4000-8000-0000000000a2"


def minimal_call(op: str, instance_id: str, flow: str) -> dict[str, Any]:
    """Well-formed parameters for ``op`` (the ids need not exist)."""
    return {
        "StartTaskContact": {"Name": "n", "ContactFlowId": flow},
        "CreateTaskTemplate": {"Name": "n", "Fields": []},
        "GetTaskTemplate": {"TaskTemplateId": "t"},
        "ListTaskTemplates": {},
        "UpdateTaskTemplate": {"TaskTemplateId": "t"},
        "DeleteTaskTemplate": {"TaskTemplateId": "t"},
        "TransferContact": {"ContactId": "c", "ContactFlowId": flow},
        "UpdateContact": {"ContactId": "c", "Name": "n"},
        "ListContactReferences": {"ContactId": "c", "ReferenceTypes": ["URL"]},
        "DescribeContact": {"ContactId": "c"},
        "StopContact": {"ContactId": "c"},
        "ListContactFlows": {},
        "ListQuickConnects": {},
    }[op] | {"InstanceId": instance_id}


def snake(op: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_")


def expect(client: Any, code: str, status: int, op: str, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        getattr(client, snake(op))(**kwargs)
    err = info.value
    assert isinstance(err, getattr(client.exceptions, code))
    assert err.response["Error"]["Code"] == code
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err.response["ResponseMetadata"]["RequestId"]
    return err


# -- errors every operation can produce ------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS)
def test_unknown_instance_is_resource_not_found(
    op: str, connect_client: Any, emulator: Any
) -> None:
    """An instance the world does not declare -> 404 ResourceNotFoundException."""
    expect(
        connect_client,
        "ResourceNotFoundException",
        404,
        op,
        **minimal_call(op, UNKNOWN_INSTANCE, emulator.flow_id),
    )


@pytest.mark.parametrize("op", OPERATIONS)
def test_rate_quota_throttles(op: str, connect_client: Any, emulator: Any) -> None:
    """With a burst of 1, the second call in a row -> 429 ThrottlingException."""
    emulator.configure(quotas={op: {"rate": 0.001, "burst": 1}})
    kwargs = minimal_call(op, UNKNOWN_INSTANCE, emulator.flow_id)
    with pytest.raises(ClientError):
        getattr(connect_client, snake(op))(**kwargs)  # takes the only token
    expect(connect_client, "ThrottlingException", 429, op, **kwargs)
    assert emulator.stats()["throttled"] == 1


@pytest.mark.parametrize("op", OPERATIONS)
def test_injected_500_is_internal_service_exception(
    op: str, connect_client: Any, emulator: Any
) -> None:
    """A 500 fault -> InternalServiceException with status 500."""
    emulator.configure(faults={"error_500": 1.0})
    expect(
        connect_client,
        "InternalServiceException",
        500,
        op,
        **minimal_call(op, emulator.instance_id, emulator.flow_id),
    )


# -- operation-specific errors ----------------------------------------------------------------

Case = tuple[str, str, int, Callable[[Any, Any, dict[str, str]], dict[str, Any]]]


def _many_fields(n: int) -> list[dict[str, Any]]:
    return [{"Id": {"Name": f"f{i}"}, "Type": "TEXT"} for i in range(n)]


CASES: list[Case] = [
    ("StartTaskContact", "InvalidRequestException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "Name": "n", "ContactFlowId": e.flow_id,
                      "QuickConnectId": x["quick_connect"]}),
    ("StartTaskContact", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "Name": "n" * 1025, "ContactFlowId": e.flow_id}),
    ("CreateTaskTemplate", "PropertyValidationException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "Name": "dup",
                      "Fields": [{"Id": {"Name": "a"}, "Type": "TEXT"}] * 2}),
    ("CreateTaskTemplate", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": "i" * 101, "Name": "n", "Fields": []}),
    ("CreateTaskTemplate", "ServiceQuotaExceededException", 402,
     lambda e, c, x: {"InstanceId": e.instance_id, "Name": "big", "Fields": _many_fields(51)}),
    ("GetTaskTemplate", "InvalidRequestException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "TaskTemplateId": x["template"],
                      "SnapshotVersion": "latest"}),
    ("GetTaskTemplate", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "TaskTemplateId": "t" * 501}),
    ("ListTaskTemplates", "InvalidRequestException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "NextToken": "not-a-token"}),
    ("ListTaskTemplates", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "MaxResults": 101}),
    ("UpdateTaskTemplate", "PropertyValidationException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "TaskTemplateId": x["template"],
                      "Name": "n" * 101}),
    ("UpdateTaskTemplate", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "TaskTemplateId": "t" * 501}),
    ("UpdateTaskTemplate", "ServiceQuotaExceededException", 402,
     lambda e, c, x: {"InstanceId": e.instance_id, "TaskTemplateId": x["template"],
                      "Fields": _many_fields(51)}),
    ("DeleteTaskTemplate", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "TaskTemplateId": "t" * 501}),
    ("TransferContact", "InvalidRequestException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["ended"],
                      "ContactFlowId": e.flow_id}),
    ("TransferContact", "IdempotencyException", 409,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["transferred"],
                      "ContactFlowId": e.flow_id, "ClientToken": "t1", "QueueId": x["queue"]}),
    ("UpdateContact", "InvalidRequestException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["contact"]}),
    ("UpdateContact", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["contact"], "Name": "n" * 1025}),
    ("ListContactReferences", "InvalidRequestException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["contact"],
                      "ReferenceTypes": ["URL"], "NextToken": "x"}),
    ("ListContactReferences", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["contact"],
                      "ReferenceTypes": ["URL"] * 7}),
    ("DescribeContact", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": "c" * 257}),
    ("StopContact", "InvalidParameterException", 400,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": "c" * 257}),
    ("StopContact", "ContactNotFoundException", 410,
     lambda e, c, x: {"InstanceId": e.instance_id, "ContactId": x["ended"]}),
    *[(op, "InvalidRequestException", 400,
       lambda e, c, x: {"InstanceId": e.instance_id, "NextToken": "not-a-token"})
      for op in ("ListContactFlows", "ListQuickConnects")],
    *[(op, "InvalidParameterException", 400,
       lambda e, c, x: {"InstanceId": e.instance_id, "MaxResults": 1001})
      for op in ("ListContactFlows", "ListQuickConnects")],
]  # fmt: skip


@pytest.fixture
def scene(connect_client: Any, emulator: Any) -> dict[str, str]:
    """A template, an active contact, an ended one, and one transferred with token "t1"."""
    iid = emulator.instance_id
    template = connect_client.create_task_template(InstanceId=iid, Name="T", Fields=[])["Id"]

    def start() -> str:
        return str(
            connect_client.start_task_contact(
                InstanceId=iid, ContactFlowId=emulator.flow_id, Name="c"
            )["ContactId"]
        )

    ended = start()
    emulator.complete_tasks()
    contact, transferred = start(), start()
    connect_client.transfer_contact(
        InstanceId=iid, ContactId=transferred, ContactFlowId=emulator.flow_id, ClientToken="t1"
    )
    world = emulator.world()["instances"][0]
    return {
        "template": template,
        "contact": contact,
        "ended": ended,
        "transferred": transferred,
        "queue": world["queues"][0],
        "quick_connect": world["quick_connects"][0],
    }


@pytest.mark.parametrize(
    ("op", "code", "status", "make"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_operation_specific_error(
    op: str, code: str, status: int, make: Any, connect_client: Any, emulator: Any, scene: Any
) -> None:
    """The named condition -> the modelled error class and HTTP status."""
    expect(connect_client, code, status, op, **make(emulator, connect_client, scene))


def test_property_validation_lists_the_property(connect_client: Any, emulator: Any) -> None:
    """PropertyValidationException carries PropertyList entries with path and reason."""
    err = expect(
        connect_client,
        "PropertyValidationException",
        400,
        "CreateTaskTemplate",
        InstanceId=emulator.instance_id,
        Name="x",
        Fields=[{"Id": {"Name": "s"}, "Type": "SINGLE_SELECT"}],
    )
    assert err.response["PropertyList"] == [
        {
            "PropertyPath": "Fields[0].SingleSelectOptions",
            "Reason": "REQUIRED_PROPERTY_MISSING",
            "Message": "A SINGLE_SELECT field needs SingleSelectOptions.",
        }
    ]


def test_previous_contact_chain_limit_is_its_own_quota(connect_client: Any, emulator: Any) -> None:
    """The 13th task on one PreviousContactId -> 402 naming PreviousContactId."""
    iid = emulator.instance_id
    base = {"InstanceId": iid, "ContactFlowId": emulator.flow_id, "Name": "n"}
    root = connect_client.start_task_contact(**base)["ContactId"]
    for _ in range(12):
        connect_client.start_task_contact(**base, PreviousContactId=root)
    err = expect(
        connect_client, "ServiceQuotaExceededException", 402, "StartTaskContact",
        **base, PreviousContactId=root,
    )  # fmt: skip
    assert "PreviousContactId" in err.response["Error"]["Message"]


def test_active_task_limit_is_a_402_without_previous_contact(
    connect_client: Any, emulator: Any
) -> None:
    """Past the active-task limit -> 402 whose message does not mention PreviousContactId."""
    emulator.configure(active_task_limit=2)
    base = {"InstanceId": emulator.instance_id, "ContactFlowId": emulator.flow_id, "Name": "n"}
    connect_client.start_task_contact(**base)
    connect_client.start_task_contact(**base)
    err = expect(connect_client, "ServiceQuotaExceededException", 402, "StartTaskContact", **base)
    assert "PreviousContactId" not in err.response["Error"]["Message"]
    assert "active tasks" in err.response["Error"]["Message"]
    emulator.complete_tasks()
    connect_client.start_task_contact(**base)  # the quota drained


def test_transfer_limit_is_eleven(connect_client: Any, emulator: Any) -> None:
    """A 12th TransferContact of one task -> 402 ServiceQuotaExceededException."""
    iid = emulator.instance_id
    cid = connect_client.start_task_contact(
        InstanceId=iid, ContactFlowId=emulator.flow_id, Name="n"
    )["ContactId"]
    call = {"InstanceId": iid, "ContactId": cid, "ContactFlowId": emulator.flow_id}
    for _ in range(11):
        connect_client.transfer_contact(**call)
    expect(connect_client, "ServiceQuotaExceededException", 402, "TransferContact", **call)


# -- errors that need a different world: an inactive instance, a denied access key -------------


@pytest.fixture(scope="module")
def odd_world() -> Iterator[EmulatorThread]:
    base = default_world()
    inactive = Instance(
        id=INACTIVE_INSTANCE,
        arn=base.instance_arn(INACTIVE_INSTANCE),
        status="CREATION_FAILED",
        contact_flows=frozenset({"f"}),
    )
    replica = Instance(
        id=REPLICA_INSTANCE,
        arn=base.instance_arn(REPLICA_INSTANCE),
        contact_flows=frozenset({"f"}),
        active_region="us-west-2",
    )
    world = replace(
        base,
        instances={**base.instances, INACTIVE_INSTANCE: inactive, REPLICA_INSTANCE: replica},
        denied_access_keys=frozenset({DENIED_KEY}),
    )
    with EmulatorThread(EmulatorSettings(world=world).without_limits()) as server:
        yield server


@pytest.mark.parametrize("op", ["DeleteTaskTemplate", "DescribeContact", "StopContact"])
def test_inactive_instance_is_an_invalid_request(op: str, odd_world: EmulatorThread) -> None:
    """Any call on an instance that is not ACTIVE -> 400 InvalidRequestException."""
    client = boto3.client("connect", region_name=REGION, endpoint_url=odd_world.url,
                          config=NO_RETRIES)  # fmt: skip
    expect(client, "InvalidRequestException", 400, op, **minimal_call(op, INACTIVE_INSTANCE, "f"))


@pytest.mark.parametrize("op", ["TransferContact", "UpdateContact"])
def test_denied_access_key_is_access_denied(op: str, odd_world: EmulatorThread) -> None:
    """A request signed with a denied access key -> 403 AccessDeniedException."""
    client = boto3.client(
        "connect", region_name=REGION, endpoint_url=odd_world.url, config=NO_RETRIES,
        aws_access_key_id=DENIED_KEY, aws_secret_access_key="x",
    )  # fmt: skip
    expect(client, "AccessDeniedException", 403, op,
           **minimal_call(op, odd_world.instance_id, sorted(DEFAULT_QUEUES)[0]))  # fmt: skip


@pytest.mark.parametrize("op", ["UpdateContact", "StopContact"])
def test_update_in_a_non_active_region_is_refused(op: str, odd_world: EmulatorThread) -> None:
    """UpdateContact (StopContact) on an instance whose traffic is active in another Region
    (Global Resiliency) -> 400 InvalidActiveRegionException (new in botocore 1.43's model)."""
    client = boto3.client("connect", region_name=REGION, endpoint_url=odd_world.url,
                          config=NO_RETRIES)  # fmt: skip
    expect(client, "InvalidActiveRegionException", 400, op,
           **minimal_call(op, REPLICA_INSTANCE, "f"))  # fmt: skip


def test_every_modelled_error_is_provoked() -> None:
    """The cases above cover every (operation, modelled error) pair of the service model."""
    model = Loader().load_service_model("connect", "service-2")
    modelled = {
        (op, e["shape"]) for op in OPERATIONS for e in model["operations"][op].get("errors", ())
    }
    covered = {
        (op, c)
        for op in OPERATIONS
        for c in ("ResourceNotFoundException", "ThrottlingException", "InternalServiceException")
    }
    covered |= {(c[0], c[1]) for c in CASES}
    covered |= {("StartTaskContact", "ServiceQuotaExceededException"),
                ("TransferContact", "ServiceQuotaExceededException"),
                ("DeleteTaskTemplate", "InvalidRequestException"),
                ("DescribeContact", "InvalidRequestException"),
                ("TransferContact", "AccessDeniedException"),
                ("UpdateContact", "AccessDeniedException"),
                # UpdateContact: "both ongoing and completed contacts" can be updated, and the
                # members that could conflict (QueueInfo, UserInfo, endpoints) are refused on
                # tasks first (test_fidelity.py), so a task never provokes a ConflictException.
                ("UpdateContact", "ConflictException"),
                ("UpdateContact", "InvalidActiveRegionException"),
                ("StopContact", "InvalidRequestException"),  # an inactive instance
                ("StopContact", "InvalidActiveRegionException")}  # fmt: skip
    assert modelled - covered == set()
