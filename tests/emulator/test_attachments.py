"""StartTaskContact Attachments in the emulator (boto3 and raw signed HTTP): validated as the
model says, stored, listed as ATTACHMENT references, an expired presigned URL refused; and the
other members the newer model added, validated like the old ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EmulatorHandle
from tests.emulator.test_model_bounds import _send

SIGNED = (
    "https://claims-bucket.s3.us-east-1.amazonaws.com/2026/claim-17.pdf"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3"
    "%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=" + "ab" * 32
)


def presigned(signed_at: datetime, expires: int) -> str:
    return SIGNED.format(date=signed_at.strftime("%Y%m%dT%H%M%SZ"), expires=expires)


def start(client: Any, emulator: EmulatorHandle, attachments: list[dict[str, str]]) -> str:
    answer = client.start_task_contact(
        InstanceId=emulator.instance_id,
        Name="Claim 17",
        ContactFlowId=emulator.flow_id,
        Attachments=attachments,
    )
    return str(answer["ContactId"])


def test_attachments_are_stored_listed_and_inspectable(
    connect_client: Any, emulator: EmulatorHandle
) -> None:
    url = presigned(datetime.now(UTC), 3600)
    sent = [
        {"FileName": "claim-17.pdf", "S3Url": url},
        {"FileName": "photo.jpg", "S3Url": "https://files.example.com/photo.jpg"},
    ]
    contact_id = start(connect_client, emulator, sent)

    [contact] = emulator.contacts()
    assert contact["Attachments"] == sent
    listed = connect_client.list_contact_references(
        InstanceId=emulator.instance_id, ContactId=contact_id, ReferenceTypes=["ATTACHMENT"]
    )["ReferenceSummaryList"]
    assert listed == [
        {
            "Attachment": {
                "Name": "claim-17.pdf",
                # the source without the presigned query: the listing carries no signature
                "Value": "https://claims-bucket.s3.us-east-1.amazonaws.com/2026/claim-17.pdf",
                "Status": "APPROVED",
            }
        },
        {
            "Attachment": {
                "Name": "photo.jpg",
                "Value": "https://files.example.com/photo.jpg",
                "Status": "APPROVED",
            }
        },
    ]
    others = connect_client.list_contact_references(
        InstanceId=emulator.instance_id, ContactId=contact_id, ReferenceTypes=["URL"]
    )["ReferenceSummaryList"]
    assert others == []


def test_five_attachments_pass_and_six_are_refused_naming_the_member(
    emulator: EmulatorHandle,
) -> None:
    item = {"FileName": "a.pdf", "S3Url": "https://files.example.com/a.pdf"}
    base = {"InstanceId": emulator.instance_id, "Name": "n", "ContactFlowId": emulator.flow_id}
    assert _send(emulator.url, "StartTaskContact", {**base, "Attachments": [item] * 5})[0] == 200
    status, body = _send(emulator.url, "StartTaskContact", {**base, "Attachments": [item] * 6})
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    assert "'Attachments'" in body["Message"] and "less than or equal to 5" in body["Message"]
    assert len(emulator.contacts()) == 1  # the refused request recorded nothing


@pytest.mark.parametrize(
    ("item", "member"),
    [
        ({"FileName": "a.pdf"}, "Attachments[0].S3Url"),
        ({"S3Url": "https://files.example.com/a.pdf"}, "Attachments[0].FileName"),
        ({"FileName": "", "S3Url": "https://files.example.com/a.pdf"}, "Attachments[0].FileName"),
        ({"FileName": "a" * 257, "S3Url": "https://f.example.com/a"}, "Attachments[0].FileName"),
        ({"FileName": "a.pdf", "S3Url": "https://f.example.com/" + "a" * 2000}, "[0].S3Url"),
        ({"FileName": "bad\x07.pdf", "S3Url": "https://f.example.com/a"}, "[0].FileName"),
    ],
)
def test_an_attachment_breaking_the_model_is_refused(
    emulator: EmulatorHandle, item: dict[str, str], member: str
) -> None:
    params = {
        "InstanceId": emulator.instance_id,
        "Name": "n",
        "ContactFlowId": emulator.flow_id,
        "Attachments": [item],
    }
    status, body = _send(emulator.url, "StartTaskContact", params)
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    assert member in body["Message"]
    assert emulator.contacts() == []


def test_an_expired_presigned_url_is_refused(connect_client: Any, emulator: EmulatorHandle) -> None:
    expired = presigned(datetime.now(UTC) - timedelta(hours=2), 3600)
    with pytest.raises(ClientError) as info:
        start(connect_client, emulator, [{"FileName": "claim.pdf", "S3Url": expired}])
    err = info.value.response["Error"]
    assert err["Code"] == "InvalidRequestException"
    assert "expired" in err["Message"] and "X-Amz-Signature" not in err["Message"]
    assert emulator.contacts() == []
    # A URL that is still valid for a minute passes.
    fresh = presigned(datetime.now(UTC) - timedelta(seconds=3540), 3600)
    start(connect_client, emulator, [{"FileName": "claim.pdf", "S3Url": fresh}])


def test_a_url_the_service_cannot_fetch_is_refused(
    connect_client: Any, emulator: EmulatorHandle
) -> None:
    with pytest.raises(ClientError) as info:
        start(connect_client, emulator, [{"FileName": "a.pdf", "S3Url": "s3://bucket/a.pdf"}])
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"


@pytest.mark.parametrize(
    "ref_type",
    ["EMAIL_MESSAGE_PLAIN_TEXT", "EMAIL_MESSAGE_PLAIN_TEXT_REDACTED", "EMAIL_MESSAGE_REDACTED"],
)
def test_reference_types_new_in_the_model_are_validated_like_the_old_ones(
    connect_client: Any, emulator: EmulatorHandle, ref_type: str
) -> None:
    """botocore 1.43 added these ReferenceType values; like EMAIL_MESSAGE or ATTACHMENT they
    cannot be set by StartTaskContact or UpdateContact, and a refused call changes nothing."""
    refs = {"mail": {"Value": "x", "Type": ref_type}}
    with pytest.raises(ClientError) as info:
        connect_client.start_task_contact(
            InstanceId=emulator.instance_id, Name="n", ContactFlowId=emulator.flow_id,
            References=refs,
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "References.mail" in info.value.response["Error"]["Message"]
    contact_id = connect_client.start_task_contact(
        InstanceId=emulator.instance_id, Name="n", ContactFlowId=emulator.flow_id
    )["ContactId"]
    with pytest.raises(ClientError) as info:
        connect_client.update_contact(
            InstanceId=emulator.instance_id, ContactId=contact_id, References=refs
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    [contact] = emulator.contacts()
    assert contact["References"] == {}
    # Outside the enum altogether: refused by the model's own enum check.
    status, body = _send(
        emulator.url,
        "UpdateContact",
        {
            "InstanceId": emulator.instance_id,
            "ContactId": contact_id,
            "References": {"mail": {"Value": "x", "Type": "EMAIL_MESSAGE_HTML"}},
        },
    )
    assert status == 400 and "enum value set" in body["Message"]
    assert "EMAIL_MESSAGE_PLAIN_TEXT" in body["Message"]  # the enum is the newer model's


def test_every_start_member_of_the_model_is_stored(
    connect_client: Any, emulator: EmulatorHandle
) -> None:
    """Each StartTaskContact input member of the installed model is kept by the emulator (shown
    by /_emulator/contacts): a member a newer model adds fails here until the emulator keeps it,
    instead of being dropped silently as Attachments was."""
    from botocore.session import get_session

    model = get_session().get_service_model("connect")
    members = set(model.operation_model("StartTaskContact").input_shape.members)
    start(connect_client, emulator, [{"FileName": "a.pdf", "S3Url": "https://f.example.com/a"}])
    [contact] = emulator.contacts()
    assert members - set(contact) == set()
