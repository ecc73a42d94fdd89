"""StartTaskContact and template rules beyond the model's shapes (via boto3)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskloader.emulator.world import DEFAULT_QUICK_CONNECTS
from tests.emulator.conftest import callback_references, template_params

QUICK_CONNECT = sorted(DEFAULT_QUICK_CONNECTS)[0]


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return str(info.value.response["Error"]["Code"])


def ref(type_: str, value: str) -> dict[str, str]:
    return {"Type": type_, "Value": value}


# (field, reference, accepted?) against the Callback template.
FIELD_CASES = [
    ("Customer name", ref("STRING", "x" * 511), True),
    ("Customer name", ref("STRING", "x" * 512), False),  # TEXT: fewer than 512 characters
    ("Customer name", ref("NUMBER", "5"), False),  # TEXT needs a STRING reference
    ("Account number", ref("NUMBER", "-12.5"), True),
    ("Account number", ref("NUMBER", "12a"), False),
    ("VIP", ref("STRING", "true"), True),
    ("VIP", ref("STRING", "yes"), False),
    ("Reason", ref("STRING", "Sales"), True),
    ("Reason", ref("STRING", "Gossip"), False),
    ("Call before", ref("DATE", "1893499200"), True),
    ("Call before", ref("DATE", "next week"), False),
    ("Call before", ref("STRING", "1893499200"), False),  # DATE_TIME needs DATE
    ("Case link", ref("URL", "https://example.com/case/1"), True),
    ("Case link", ref("URL", "example.com"), False),
    ("Email", ref("EMAIL", "ada@example.com"), True),
    ("Email", ref("EMAIL", "ada-at-example"), False),
    ("free-form", ref("STRING", "anything"), True),  # not a template field
    ("free-form", ref("ATTACHMENT", "x"), False),  # cannot be created with a task
]


@pytest.mark.parametrize(
    ("field", "reference", "accepted"),
    FIELD_CASES,
    ids=[f"{f}-{r['Type']}-{'ok' if a else 'refused'}" for f, r, a in FIELD_CASES],
)
def test_reference_checked_against_the_template_field(
    field: str,
    reference: dict[str, str],
    accepted: bool,
    connect_client: Any,
    emulator: Any,
    callback_template: str,
) -> None:
    """A reference's type and value must suit the template field of the same name."""
    kwargs = {
        "InstanceId": emulator.instance_id,
        "Name": "n",
        "TaskTemplateId": callback_template,
        "References": callback_references({field: reference}),
    }
    if accepted:
        connect_client.start_task_contact(**kwargs)
    else:
        code = error_code(connect_client.start_task_contact, **kwargs)
        assert code == "InvalidParameterException"


def test_required_template_field_must_be_present(
    connect_client: Any, emulator: Any, callback_template: str
) -> None:
    """A required field without a default and without a reference is refused."""
    code = error_code(
        connect_client.start_task_contact,
        InstanceId=emulator.instance_id,
        Name="n",
        TaskTemplateId=callback_template,
        References=callback_references({"Customer name": None}),
    )
    assert code == "InvalidParameterException"


def _start(emulator: Any, **kwargs: Any) -> dict[str, Any]:
    return {"InstanceId": emulator.instance_id, "Name": "n", **kwargs}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "InvalidRequestException"),  # no flow at all
        ({"ContactFlowId": "f-unknown"}, "ResourceNotFoundException"),
        ({"QuickConnectId": "q-unknown"}, "ResourceNotFoundException"),
        ({"TaskTemplateId": "t-unknown"}, "ResourceNotFoundException"),
        ({"PreviousContactId": "c-unknown", "flow": True}, "ResourceNotFoundException"),
        ({"RelatedContactId": "c-unknown", "flow": True}, "ResourceNotFoundException"),
        ({"Attributes": {"bad key!": "v"}, "flow": True}, "InvalidParameterException"),
        ({"Attributes": {"kk": "v" * 32767}, "flow": True}, "InvalidParameterException"),
        ({"References": {"k": ref("STRING", "v" * 4096)}, "flow": True},
         "InvalidParameterException"),
        ({"SegmentAttributes": {"connect:ContactExpiry": {"ValueString": "1d"}}, "flow": True},
         "InvalidParameterException"),
    ],
)  # fmt: skip
def test_start_task_contact_refusals(
    kwargs: dict[str, Any], code: str, connect_client: Any, emulator: Any
) -> None:
    """Each broken rule -> its error (flows, ids, attribute keys and sizes, reference size)."""
    if kwargs.pop("flow", False):
        kwargs["ContactFlowId"] = emulator.flow_id
    assert error_code(connect_client.start_task_contact, **_start(emulator, **kwargs)) == code


def test_attribute_and_reference_totals_just_inside_are_accepted(
    connect_client: Any, emulator: Any
) -> None:
    """32,768 bytes of attributes and 4,096 bytes of references are still fine."""
    connect_client.start_task_contact(
        **_start(
            emulator,
            ContactFlowId=emulator.flow_id,
            Attributes={"k": "v" * 32767},
            References={"k": ref("STRING", "v" * 4095)},
        )
    )


def test_template_flow_rules(connect_client: Any, emulator: Any) -> None:
    """A flowless template needs a flow source; an INACTIVE template is refused."""
    iid = emulator.instance_id
    flowless = connect_client.create_task_template(
        InstanceId=iid, **template_params("no-flow.json")
    )["Id"]
    refs = {"Document": ref("URL", "https://example.com/d")}
    start = connect_client.start_task_contact
    assert error_code(start, **_start(emulator, TaskTemplateId=flowless, References=refs)) == (
        "InvalidRequestException"
    )
    start(**_start(emulator, TaskTemplateId=flowless, ContactFlowId=emulator.flow_id,
                   References=refs))  # fmt: skip
    start(**_start(emulator, TaskTemplateId=flowless, QuickConnectId=QUICK_CONNECT,
                   References=refs))  # fmt: skip
    connect_client.update_task_template(
        InstanceId=iid, TaskTemplateId=flowless, Status="INACTIVE",
        **{k: v for k, v in template_params("no-flow.json").items() if k != "Status"},
    )  # fmt: skip
    assert error_code(
        start, **_start(emulator, TaskTemplateId=flowless, ContactFlowId=emulator.flow_id,
                        References=refs)
    ) == "InvalidRequestException"  # fmt: skip


def test_scheduled_time_window(connect_client: Any, emulator: Any) -> None:
    """ScheduledTime: not in the past, within the horizon (6 days, configurable)."""
    now = int(time.time())
    base = _start(emulator, ContactFlowId=emulator.flow_id)
    start = connect_client.start_task_contact
    start(**base, ScheduledTime=now + 6 * 86400 - 60)
    assert error_code(start, **base, ScheduledTime=now + 6 * 86400 + 60) == (
        "InvalidParameterException"
    )
    assert error_code(start, **base, ScheduledTime=now - 3600) == "InvalidParameterException"
    emulator.configure(schedule_horizon_s=90 * 86400)
    start(**base, ScheduledTime=now + 60 * 86400)


def test_fifty_templates_per_instance(connect_client: Any, emulator: Any) -> None:
    """The 51st template of an instance -> ServiceQuotaExceededException."""
    for n in range(50):
        connect_client.create_task_template(
            InstanceId=emulator.instance_id, Name=f"t{n}", Fields=[]
        )
    code = error_code(
        connect_client.create_task_template,
        InstanceId=emulator.instance_id,
        Name="one too many",
        Fields=[],
    )
    assert code == "ServiceQuotaExceededException"


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"ContactFlowId": "f-unknown"}, "ContactFlowId", "REFERENCED_RESOURCE_NOT_FOUND"),
        ({"Constraints": {"RequiredFields": [{"Id": {"Name": "ghost"}}]}},
         "Constraints.RequiredFields[0].Id.Name", "REFERENCED_RESOURCE_NOT_FOUND"),
        ({"Defaults": {"DefaultFieldValues": [{"Id": {"Name": "VIP"}, "DefaultValue": "maybe"}]}},
         "Defaults.DefaultFieldValues[0].DefaultValue", "INVALID_FORMAT"),
        ({"Fields": [{"Id": {"Name": "no type"}}]}, "Fields[0].Type", "REQUIRED_PROPERTY_MISSING"),
        ({"Status": "PAUSED"}, "Status", "INVALID_FORMAT"),
    ],
)  # fmt: skip
def test_template_property_validation(
    change: dict[str, Any], path: str, reason: str, connect_client: Any, emulator: Any
) -> None:
    """Template content rules -> PropertyValidationException with the property and reason."""
    params = template_params("callback.json", **change)
    if "Fields" in change:
        params.pop("Constraints"), params.pop("Defaults")
    with pytest.raises(connect_client.exceptions.PropertyValidationException) as info:
        connect_client.create_task_template(InstanceId=emulator.instance_id, **params)
    [prop] = info.value.response["PropertyList"]
    assert (prop["PropertyPath"], prop["Reason"]) == (path, reason)


def test_template_names_are_unique_and_client_token_is_idempotent(
    connect_client: Any, emulator: Any
) -> None:
    """Same name -> RESOURCE_NAME_ALREADY_EXISTS; same ClientToken -> the same template."""
    iid = emulator.instance_id
    first = connect_client.create_task_template(
        InstanceId=iid, Name="A", Fields=[], ClientToken="k"
    )
    again = connect_client.create_task_template(
        InstanceId=iid, Name="A", Fields=[], ClientToken="k"
    )
    assert first["Id"] == again["Id"]
    with pytest.raises(connect_client.exceptions.PropertyValidationException) as info:
        connect_client.create_task_template(InstanceId=iid, Name="A", Fields=[])
    assert info.value.response["PropertyList"][0]["Reason"] == "RESOURCE_NAME_ALREADY_EXISTS"


def test_unknown_snapshot_version_is_not_found(
    connect_client: Any, emulator: Any, callback_template: str
) -> None:
    """A SnapshotVersion that was never made -> ResourceNotFoundException."""
    code = error_code(
        connect_client.get_task_template,
        InstanceId=emulator.instance_id,
        TaskTemplateId=callback_template,
        SnapshotVersion="9",
    )
    assert code == "ResourceNotFoundException"
