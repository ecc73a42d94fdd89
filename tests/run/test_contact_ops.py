"""The contact operations' rows and error rules, without a network: what makes a row invalid,
and how an API error of an existing contact is sorted (never retried when it cannot succeed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from taskloader.connect.retry import ErrorKind
from taskloader.run.contact_ops import STOP, TRANSFER, UPDATE, contact_request
from taskloader.run.contact_rows import ContactSource
from taskloader.run.contacts import check_contacts
from taskloader.run.verify import VERIFY, differences
from taskloader.settings import load_settings
from tests.run.conftest import write_csv


def _codes(problems: list[Any]) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in problems]


def test_transfer_needs_a_flow_and_one_of_queue_or_user() -> None:
    params, problems = contact_request(
        TRANSFER, {"contact_id": "c1", "queue_id": "q", "contact_flow_id": "f"}
    )
    assert params == {"ContactId": "c1", "QueueId": "q", "ContactFlowId": "f"}
    assert problems == []
    both = {"contact_id": "c1", "queue_id": "q", "user_id": "u", "contact_flow_id": "f"}
    assert _codes(contact_request(TRANSFER, both)[1]) == [("invalid_value", "queue_id")]
    neither = {"contact_id": "c1", "contact_flow_id": ""}
    assert _codes(contact_request(TRANSFER, neither)[1]) == [
        ("no_flow", "contact_flow_id"),
        ("required_field_missing", "queue_id"),
    ]


def test_update_takes_name_description_and_string_references() -> None:
    params, problems = contact_request(
        UPDATE, {"contact_id": " c1 ", "Name": "N", "ref.ticket": "T-1", "description": ""}
    )
    assert problems == []
    assert params == {
        "ContactId": "c1",
        "Name": "N",
        "References": {"ticket": {"Type": "STRING", "Value": "T-1"}},
    }
    assert _codes(contact_request(UPDATE, {"contact_id": "c1"})[1]) == [
        ("required_field_missing", None)
    ]
    assert _codes(contact_request(UPDATE, {"contact_id": "c1", "name": "x" * 1025})[1]) == [
        ("text_too_long", "name")
    ]


def test_stop_refuses_unknown_columns_and_a_blank_contact_id() -> None:
    assert contact_request(STOP, {"contact_id": "c1"}) == ({"ContactId": "c1"}, [])
    _, problems = contact_request(STOP, {"contact_id": "", "queue_id": "q"})
    assert _codes(problems) == [
        ("required_field_missing", "contact_id"),
        ("unknown_column", "queue_id"),
    ]


def _client_error(code: str, message: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "op")


def test_an_ended_contact_is_the_rows_failure_never_a_retry() -> None:
    ended = _client_error("ContactNotFoundException", "Contact 'c' is not active: ended.", 410)
    for op in (STOP, TRANSFER):
        found = op.classify(ended)
        assert found is not None
        assert (found.kind, found.code) == (ErrorKind.PERMANENT, "contact_not_active")
    only_active = _client_error(
        "InvalidRequestException", "Only active TASK contacts can be transferred.", 400
    )
    found = TRANSFER.classify(only_active)
    assert found is not None and found.code == "contact_not_active"


def test_the_eleventh_transfer_is_not_a_quota_to_wait_for() -> None:
    limit = _client_error("ServiceQuotaExceededException", "at most 11 times.", 402)
    found = TRANSFER.classify(limit)
    assert found is not None and found.kind is ErrorKind.PERMANENT
    throttled = _client_error("ThrottlingException", "Rate exceeded", 429)
    found = TRANSFER.classify(throttled)
    assert found is not None and found.kind is ErrorKind.RETRYABLE and found.throttle


def test_verify_compares_only_what_the_row_asked_for() -> None:
    asked = {"name": "A", "description": None, "template": None, "scheduled_time": 100,
             "references": {"t": ["STRING", "1"]}}  # fmt: skip
    found = {"name": "A", "description": "added by a flow", "template": "tt",
             "scheduled_time": 100,
             "references": {"t": ["STRING", "1"], "x": ["URL", "u"]}}  # fmt: skip
    assert differences(asked, found) == []
    found["references"] = {"t": ["NUMBER", "1"]}
    found["scheduled_time"] = 160
    assert differences(asked, found) == [
        {"field": "scheduled_time", "asked": 100, "found": 160},
        {"field": "ref.t", "asked": ["STRING", "1"], "found": ["NUMBER", "1"]},
    ]
    missing = _client_error("ResourceNotFoundException", "Contact 'c' was not found.", 404)
    classified = VERIFY.classify(missing)
    assert classified is not None and classified.code == "missing"


async def test_dry_run_checks_every_row_and_sends_nothing(tmp_path: Path) -> None:
    """--dry-run needs no endpoint: a file with one invalid row exits 1, a clean one 0."""
    rows = [{"contact_id": "c1", "queue_id": "q", "contact_flow_id": "f"},
            {"contact_id": "c1", "queue_id": "q", "contact_flow_id": "f"}]  # fmt: skip
    path = write_csv(tmp_path / "t.csv", rows, ("contact_id", "queue_id", "contact_flow_id"))
    settings = load_settings(flags={"instance_id": "i", "region": "us-east-1"}, environ={})
    said: list[tuple[int, int]] = []
    source = ContactSource(file=str(path))
    assert await check_contacts(TRANSFER, source, settings, lambda *n: said.append(n)) == 1
    assert said == [(1, 1)]  # the contact listed twice: its second row
    path = write_csv(tmp_path / "t.csv", rows[:1], ("contact_id", "queue_id", "contact_flow_id"))
    assert await check_contacts(TRANSFER, ContactSource(file=str(path)), settings) == 0


def test_update_by_template_field_sends_only_what_the_row_gives() -> None:
    """Template fields by name: typed references, NAME/DESCRIPTION fields as Name/Description,
    no template default sent, and a field UpdateContact cannot change is the row's problem."""
    from taskloader.templates.model import FieldType, TaskTemplate, TemplateField

    tpl = TaskTemplate(
        id="t", arn="a", name="Claims",
        fields=(TemplateField("Title", FieldType.NAME), TemplateField("Amount", FieldType.NUMBER),
                TemplateField("Due", FieldType.SCHEDULED_TIME),
                TemplateField("Priority", FieldType.TEXT)),
        defaults={"Priority": "low"},
    )  # fmt: skip
    params, problems = contact_request(
        UPDATE, {"contact_id": "c1", "title": "Renamed", "Amount": "12", "Due": ""}, tpl
    )
    assert problems == []
    assert params == {
        "ContactId": "c1",
        "Name": "Renamed",
        "References": {"Amount": {"Value": "12", "Type": "NUMBER"}},
    }
    bad = contact_request(
        UPDATE, {"contact_id": "c1", "Amount": "twelve", "Due": "2027-01-01"}, tpl
    )
    assert _codes(bad[1]) == [("invalid_number", "Amount"), ("unsupported_field", "Due")]
