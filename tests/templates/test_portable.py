"""Template files without an instance: parsing, the file rules, names and ids, the file text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskloader.checks.template_files import check_templates, template_limits
from taskloader.templates.diff import diff
from taskloader.templates.portable import TemplateFileError, parse_template
from taskloader.templates.request import (
    Catalog,
    canonical,
    client_token,
    dumps,
    file_names,
    to_portable,
    to_request,
)

CATALOG = Catalog(
    flows={"f-1": "Callback flow", "f-2": "Other flow"},
    quick_connects={"q-1": "Billing queue"},
)


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Name": "Callback",
        "ContactFlow": "Callback flow",
        "Fields": [
            {"Id": {"Name": "Task name"}, "Type": "NAME"},
            {"Id": {"Name": "Reason"}, "Type": "SINGLE_SELECT",
             "SingleSelectOptions": ["Billing", "Other"]},
            {"Id": {"Name": "Assign to"}, "Type": "QUICK_CONNECT"},
        ],
        "Constraints": {"RequiredFields": [{"Id": {"Name": "Reason"}}]},
        "Defaults": {"DefaultFieldValues": [
            {"Id": {"Name": "Reason"}, "DefaultValue": "Other"},
            {"Id": {"Name": "Assign to"}, "QuickConnect": "Billing queue"},
        ]},
    }  # fmt: skip
    base.update(changes)
    return base


def problems(data: dict[str, Any]) -> list[str]:
    try:
        spec = parse_template(data, "t.json")
    except TemplateFileError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in check_templates([spec])]


def test_a_valid_file_resolves_names_and_goes_back_to_the_same_file() -> None:
    """Names become this instance's ids; the instance's answer exports to the same file."""
    request = to_request(parse_template(doc(), "t.json"), CATALOG)
    assert request["ContactFlowId"] == "f-1"
    assert {"Id": {"Name": "Assign to"}, "DefaultValue": "q-1"} in request["Defaults"][
        "DefaultFieldValues"
    ]
    answer = {**request, "Id": "t-1", "Arn": "arn:x", "LastModifiedTime": "2026-01-01"}
    assert canonical(answer) == request
    assert to_portable(answer, CATALOG) == to_portable(
        {**answer, "Id": "t-2"}, CATALOG
    )  # nothing server-assigned is kept
    exported = to_portable(answer, CATALOG)
    assert to_request(parse_template(exported, "again.json"), CATALOG) == request


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (doc(Fields=[{"Id": {"Name": "A"}, "Type": "TEXT"}] * 2, Constraints={}, Defaults={}),
         "t.json: Fields[1] 'A': is defined twice (field names must be unique)"),
        (doc(Fields=[{"Id": {"Name": "Email"}, "Type": "EMAIL"},
                     {"Id": {"Name": " email"}, "Type": "TEXT"}], Constraints={}, Defaults={}),
         "t.json: Fields[1] ' email': differs from field 'Email' only in letter case or blanks"),
        (doc(Status="DRAFT"), "t.json: Status: must be one of ACTIVE, INACTIVE"),
        (doc(Name="x" * 101), "t.json: Name: must be 1 to 100 characters long, not 101"),
        (doc(Fields=[{"Id": {"Name": "A"}, "Type": "TEXT", "SingleSelectOptions": ["x"]}],
             Constraints={}, Defaults={}),
         "t.json: Fields[0] 'A'.SingleSelectOptions: only a SINGLE_SELECT field has options"),
        (doc(Fields=[{"Id": {"Name": "A"}, "Type": "SINGLE_SELECT",
                      "SingleSelectOptions": [f"o{n}" for n in range(51)]}],
             Constraints={}, Defaults={}),
         "t.json: Fields[0] 'A'.SingleSelectOptions: 51 options; a field has at most 50"),
        (doc(Defaults={"DefaultFieldValues": [{"Id": {"Name": "Reason"}, "DefaultValue": "No"}]}),
         "t.json: Defaults 'Reason': not a valid default for a SINGLE_SELECT field"),
        (doc(Constraints={"RequiredFields": [{"Id": {"Name": "Colour"}}]}),
         "t.json: Constraints.RequiredFields: names 'Colour', which is not a field"),
        (doc(Fields=[{"Id": {"Name": "A"}, "Type": "TEXTT"}], Constraints={}, Defaults={}),
         "t.json: Fields[0] 'A'.Type: 'TEXTT' is not a field type"),
        (doc(Defaults={"DefaultFieldValues": [{"Id": {"Name": "Assign to"},
                                               "DefaultValue": "q-1"}]}),
         "t.json: Defaults.DefaultFieldValues[0]: field 'Assign to' is a QUICK_CONNECT"),
        (doc(Colour="blue"), "t.json: Colour: is not a member of a template file"),
        (doc(Fields="none"), "t.json: Fields: must be a list"),
        (doc(Fields=[{"Id": {"Name": "A"}, "Type": "TEXT", "Options": ["x"]}], Constraints={},
             Defaults={}), "t.json: Fields[0].Options: is not a member here"),
        (doc(Defaults={"DefaultFieldValues": [{"Id": {"Name": "Reason"},
                                               "QuickConnect": "Billing queue"}]}),
         "t.json: Defaults.DefaultFieldValues[0]: field 'Reason' is not a QUICK_CONNECT"),
    ],
    ids=["duplicate-field", "folded-duplicate-field", "status", "name-length", "options-on-text",
         "51-options",
         "default-not-an-option", "constraint-unknown-field", "field-type",
         "quick-connect-by-id", "unknown-member", "fields-not-a-list", "unknown-field-member",
         "quick-connect-on-other-field"],
)  # fmt: skip
def test_rules_name_the_file_and_the_field(data: dict[str, Any], expected: str) -> None:
    """Each broken rule is one problem that names the file and where in it."""
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


def test_names_must_be_unique_across_files() -> None:
    specs = [parse_template(doc(), f"{n}.json") for n in ("a", "b")]
    assert [str(p) for p in check_templates(specs)] == [
        "a.json: Name: 'Callback' is also the name in b.json",
        "b.json: Name: 'Callback' is also the name in a.json",
    ]


def test_unresolved_names_are_reported_together() -> None:
    spec = parse_template(
        doc(ContactFlow="Nightly", Defaults={"DefaultFieldValues": [
            {"Id": {"Name": "Assign to"}, "QuickConnect": "Desk"}]}),
        "t.json",
    )  # fmt: skip
    with pytest.raises(TemplateFileError) as info:
        to_request(spec, CATALOG)
    assert [p.where for p in info.value.problems] == ["ContactFlow", "Defaults 'Assign to'"]
    assert "no flow named 'Nightly' in the instance (there: 'Callback flow', 'Other flow')" in str(
        info.value
    )


def test_the_limits_come_from_the_model() -> None:
    limits = template_limits()
    assert limits.lengths["TaskTemplateName"] == (1, 100)
    assert "SINGLE_SELECT" in limits.field_types and limits.statuses == {"ACTIVE", "INACTIVE"}


def test_tokens_file_names_and_text_are_stable() -> None:
    """The ClientToken depends on instance and content only; file names are readable and never
    collide; the text is the same for the same document."""
    request = to_request(parse_template(doc(), "t.json"), CATALOG)
    token = client_token("i-1", request)
    assert token == client_token("i-1", json.loads(json.dumps(request)))
    assert token != client_token("i-2", request)
    assert token != client_token("i-1", {**request, "Status": "INACTIVE"})
    names = file_names(["Follow-up call", "Follow up call", "Callback"])
    assert names["Callback"] == "callback.json"
    assert len(set(names.values())) == 3 and names["Follow-up call"].startswith("follow-up-call-")
    text = dumps(to_portable({**request, "Id": "t"}, CATALOG))
    assert json.loads(text)["ContactFlow"] == "Callback flow"
    assert '    {"Id": {"Name": "Task name"}, "Type": "NAME"},\n' in text


def test_the_diff_names_flows_and_covers_every_member() -> None:
    """Flow, constraint, default, field type, description and order changes, each one line."""
    before = to_request(parse_template(doc(), "t.json"), CATALOG)
    fields = doc()["Fields"]
    after = to_request(
        parse_template(
            doc(
                ContactFlow="Other flow",
                Description="Now described",
                Fields=[fields[2], {**fields[1], "Type": "TEXT", "SingleSelectOptions": []},
                        {**fields[0], "Description": "The name"}],
                Constraints={"ReadOnlyFields": [{"Id": {"Name": "Reason"}}]},
                Defaults={"DefaultFieldValues": [{"Id": {"Name": "Reason"},
                                                  "DefaultValue": "Billing"}]},
            ),
            "t.json",
        ),
        CATALOG,
    )  # fmt: skip
    lines = [c.text() for c in diff(before, after, CATALOG)]
    assert lines == [
        "~ Description: (none) -> 'Now described'",
        "~ ContactFlow: 'Callback flow' -> 'Other flow'",
        "~ Fields 'Reason' type: 'SINGLE_SELECT' -> 'TEXT'",
        "~ Fields 'Reason' options: ['Billing', 'Other'] -> [] (-'Billing', -'Other')",
        "~ Fields 'Task name' description: (none) -> 'The name'",
        "~ Fields order: ['Task name', 'Reason', 'Assign to']"
        " -> ['Assign to', 'Reason', 'Task name']",
        "- Constraints.RequiredFields 'Reason'",
        "+ Constraints.ReadOnlyFields 'Reason'",
        "- Defaults 'Assign to': 'Billing queue'",
        "~ Defaults 'Reason': 'Other' -> 'Billing'",
    ]
    assert diff(before, before, CATALOG) == []
