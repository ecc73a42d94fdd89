"""Request-level rules, cross-row checks and the per-row entry point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskloader.checks.request import (
    Code,
    CrossRowChecks,
    Limits,
    Problem,
    check_row,
    template_problem,
    validate,
)
from taskloader.input.readers import SourceOptions, open_rows
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.mapper import Mapper, TaskRequest
from taskloader.templates.model import FieldType, TemplateField
from tests.input.helpers import row, template

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LIMITS = Limits(clock=lambda: NOW)
TPL = template()
CORPUS = Path(__file__).parents[1] / "input" / "corpus"


def codes(params: dict[str, object], tpl=TPL, limits: Limits = LIMITS) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in validate(TaskRequest("k", {"Name": "n", **params}), tpl, limits)]


def test_a_complete_request_has_no_problems() -> None:
    assert codes({}) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [("x", []), ("x" * 1024, []), ("x" * 1025, [Code.NAME_TOO_LONG]), ("", [Code.NAME_MISSING])],
)
def test_name_length_from_the_model(name: str, expected: list[str]) -> None:
    assert codes({"Name": name}) == expected


def test_name_missing_when_absent() -> None:
    problems = validate(TaskRequest("k", {}), TPL, LIMITS)
    assert [p.code for p in problems] == [Code.NAME_MISSING]


@pytest.mark.parametrize(("size", "ok"), [(4096, True), (4097, False)])
def test_description_length(size: int, ok: bool) -> None:
    assert codes({"Description": "d" * size}) == ([] if ok else [Code.DESCRIPTION_TOO_LONG])


def test_inactive_template() -> None:
    assert codes({}, template(status="INACTIVE")) == [Code.TEMPLATE_INACTIVE]


@pytest.mark.parametrize(
    ("flow", "params", "expected"),
    [
        ("flow-1", {}, []),
        (None, {}, [Code.NO_FLOW]),
        (None, {"ContactFlowId": "f"}, []),
        (None, {"QuickConnectId": "q"}, []),
        (None, {"ContactFlowId": "f", "QuickConnectId": "q"}, [Code.AMBIGUOUS_FLOW]),
        ("flow-1", {"ContactFlowId": "f", "QuickConnectId": "q"}, [Code.AMBIGUOUS_FLOW]),
        # "include only one of these parameters: ContactFlowID, QuickConnectID, or
        # TaskTemplateID" (StartTaskContact, /work/shared/seeds): a template's own flow
        # leaves no room for another one
        ("flow-1", {"ContactFlowId": "f"}, [Code.AMBIGUOUS_FLOW]),
        ("flow-1", {"QuickConnectId": "q"}, [Code.AMBIGUOUS_FLOW]),
    ],
)
def test_a_flow_must_be_determinable(
    flow: str | None, params: dict[str, object], expected: list[str]
) -> None:
    assert codes(params, template(contact_flow_id=flow)) == expected


def test_no_template_needs_a_flow_column() -> None:
    assert codes({}, None) == [Code.NO_FLOW]
    assert codes({"ContactFlowId": "f"}, None) == []


def test_every_missing_required_field_is_reported() -> None:
    tpl = template(required=frozenset({"Amount", "When", "Email", "Me"}))
    problems = validate(TaskRequest("k", {"Name": "n"}), tpl, LIMITS)
    assert [(p.code, p.field) for p in problems] == [
        (Code.REQUIRED_FIELD_MISSING, "Amount"),
        (Code.REQUIRED_FIELD_MISSING, "Email"),
        (Code.REQUIRED_FIELD_MISSING, "When"),
    ]
    refs = {
        "Amount": {"Value": "1", "Type": "NUMBER"},
        "Email": {"Value": "a@b.c", "Type": "EMAIL"},
    }
    assert codes({"References": refs, "ScheduledTime": NOW + timedelta(hours=1)}, tpl) == []


def test_required_fields_are_satisfied_by_template_defaults() -> None:
    tpl = template(required=frozenset({"Priority"}), defaults={"Priority": "Low"})
    checked = check_row(row({"name": "n"}), tpl, Mapper(), LIMITS)
    assert checked.problems == []


@pytest.mark.parametrize(
    ("required", "values", "expected"),
    [
        ({"Priority"}, {"Priority": "Bogus"}, [(Code.INVALID_OPTION, "Priority")]),
        ({"Priority"}, {"priority ": "Bogus"}, [(Code.INVALID_OPTION, "Priority")]),
        ({"Amount"}, {"Amount": "1,5"}, [(Code.INVALID_NUMBER, "Amount")]),
        # another field's refused value leaves a missing one missing
        (
            {"Amount", "Email"},
            {"Amount": "1,5"},
            [(Code.INVALID_NUMBER, "Amount"), (Code.REQUIRED_FIELD_MISSING, "Email")],
        ),
        ({"Amount"}, {"Amount": ""}, [(Code.REQUIRED_FIELD_MISSING, "Amount")]),  # no value
        ({"Amount"}, {}, [(Code.REQUIRED_FIELD_MISSING, "Amount")]),
        # a top-level parameter: the field's column, or the parameter's conventional column
        ({"When"}, {"When": "soon"}, [(Code.INVALID_SCHEDULED_TIME, "When")]),
        ({"When"}, {"scheduled_time": "soon"}, [(Code.INVALID_SCHEDULED_TIME, "scheduled_time")]),
    ],
)
def test_a_required_field_whose_value_is_refused_gets_only_the_value_problem(
    required: set[str], values: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    """A refused value is a value: "has no value or default" would be false beside it."""
    tpl = template(required=frozenset(required))
    checked = check_row(row({"name": "n", **values}), tpl, Mapper(), LIMITS)
    assert [(p.code, p.field) for p in checked.problems] == expected


def test_a_refused_value_of_another_field_does_not_hide_a_missing_one() -> None:
    """A TEXT field named ``name`` takes the ``name`` column: its refused value is not one for
    the NAME field ``Task name``, which is still missing."""
    fields = (TemplateField("Task name", FieldType.NAME), TemplateField("name", FieldType.TEXT))
    tpl = template(fields=fields, required=frozenset({"Task name"}))
    checked = check_row(row({"name": "x" * 513}), tpl, Mapper(), LIMITS)
    assert [(p.code, p.field) for p in checked.problems] == [
        (Code.TEXT_TOO_LONG, "name"),
        (Code.NAME_MISSING, "name"),
        (Code.REQUIRED_FIELD_MISSING, "Task name"),
    ]


def test_a_refused_default_is_not_reported_as_no_default() -> None:
    tpl = template(required=frozenset({"Priority"}), defaults={"Priority": "Medium"})
    checked = check_row(row({"name": "n"}), tpl, Mapper(), LIMITS)
    assert [(p.code, p.field) for p in checked.problems] == [(Code.INVALID_OPTION, "Priority")]


@pytest.mark.parametrize(("value_bytes", "ok"), [(4096 - 3, True), (4096 - 2, False)])
def test_references_total_bytes(value_bytes: int, ok: bool) -> None:
    refs = {"abc": {"Value": "v" * value_bytes, "Type": "STRING"}}
    assert codes({"References": refs}) == ([] if ok else [Code.REFERENCES_TOO_LARGE])


def test_reference_bytes_count_utf8_not_characters() -> None:
    refs = {"k": {"Value": "é" * 2048, "Type": "STRING"}}  # 4,096 bytes + the key
    assert codes({"References": refs}) == [Code.REFERENCES_TOO_LARGE]


@pytest.mark.parametrize(("value_bytes", "ok"), [(32768 - 1, True), (32768, False)])
def test_attributes_total_bytes(value_bytes: int, ok: bool) -> None:
    attrs = {"a": "v" * value_bytes}
    assert codes({"Attributes": attrs}) == ([] if ok else [Code.ATTRIBUTES_TOO_LARGE])


@pytest.mark.parametrize(
    ("key", "ok"), [("customer_id", True), ("Region-2", True), ("has space", False), ("a.b", False)]
)
def test_attribute_key_charset(key: str, ok: bool) -> None:
    assert codes({"Attributes": {key: "v"}}) == ([] if ok else [Code.INVALID_ATTRIBUTE_KEY])


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(seconds=-1), [Code.SCHEDULED_TIME_IN_PAST]),
        (timedelta(0), []),
        (timedelta(days=6), []),
        (timedelta(days=6, seconds=1), [Code.SCHEDULED_TIME_TOO_FAR]),
    ],
)
def test_scheduled_time_window(offset: timedelta, expected: list[str]) -> None:
    assert codes({"ScheduledTime": NOW + offset}) == expected


def test_schedule_horizon_is_configurable() -> None:
    limits = Limits(clock=lambda: NOW, schedule_horizon=timedelta(days=90))
    assert codes({"ScheduledTime": NOW + timedelta(days=60)}, limits=limits) == []


def test_every_problem_is_reported_not_just_the_first() -> None:
    tpl = template(status="INACTIVE", contact_flow_id=None, required=frozenset({"Amount"}))
    checked = check_row(
        row({"Email": "nope", "scheduled_time": "2000-01-01T00:00:00Z", "attr.a b": "x"}),
        tpl,
        Mapper(),
        LIMITS,
    )
    assert {p.code for p in checked.problems} == {
        Code.INVALID_EMAIL,
        Code.TEMPLATE_INACTIVE,
        Code.NAME_MISSING,
        Code.NO_FLOW,
        Code.REQUIRED_FIELD_MISSING,
        Code.INVALID_ATTRIBUTE_KEY,
        Code.SCHEDULED_TIME_IN_PAST,
    }


def test_duplicate_keys_are_flagged_from_the_second_row_on() -> None:
    cross = CrossRowChecks()
    flagged = [
        bool(cross.check(TaskRequest(key, {})))
        for key in ["k-1", "k-2", "k-1", "k-1", "a" * 64, "a" * 64]
    ]
    assert flagged == [False, False, True, True, False, True]


def test_duplicate_detection_is_exact_across_many_keys() -> None:
    """Enough keys to spill into sorted runs behind the Bloom filter."""
    cross = CrossRowChecks()
    n = 300_000
    assert not any(cross.check(TaskRequest(f"key-{i}", {})) for i in range(n))
    assert all(cross.check(TaskRequest(f"key-{i}", {})) for i in range(0, n, 997))


def test_more_than_twelve_rows_per_previous_contact() -> None:
    cross = CrossRowChecks()
    results = [cross.check(TaskRequest(f"k{i}", {"PreviousContactId": "c-1"})) for i in range(14)]
    assert [bool(r) for r in results] == [False] * 12 + [True, True]
    assert results[12][0].code == Code.PREVIOUS_CONTACT_LIMIT
    assert not cross.check(TaskRequest("other", {"PreviousContactId": "c-2"}))


def test_check_row_turns_reader_problems_and_template_failures_into_problems() -> None:
    ragged = row({"name": "n"})
    ragged = type(ragged)("f.csv", 1, 2, {"name": "n"}, (("ragged_row", "3 fields"),))
    checked = check_row(ragged, template_problem(Code.UNKNOWN_TEMPLATE), Mapper(), LIMITS)
    assert [p.code for p in checked.problems] == [Code.RAGGED_ROW, Code.UNKNOWN_TEMPLATE]
    assert checked.problems[1] == Problem(
        Code.UNKNOWN_TEMPLATE, "template", "no task template has this name or id"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("duplicate_keys.csv", [[], [], [Code.DUPLICATE_KEY]]),
        ("duplicate_rows.csv", [[], [Code.DUPLICATE_KEY]]),
        ("formula.csv", [[], []]),
    ],
)
def test_corpus_files_through_the_whole_row_check(name: str, expected: list[list[str]]) -> None:
    """Formula-looking cells are plain text: neither evaluated nor refused."""
    cross = CrossRowChecks()
    mapper = Mapper(MappingConfig(ignore=["Notes"]))
    with open_rows(str(CORPUS / name), SourceOptions()) as rows:
        got = [[p.code for p in check_row(r, TPL, mapper, LIMITS, cross).problems] for r in rows]
    assert got == expected
