"""The mapping contract: conventional columns, template fields, attr./ref., defaults, keys."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskloader.mapping.config import MappingConfig
from taskloader.mapping.mapper import Mapper, content_key
from taskloader.mapping.rules import Code
from taskloader.templates.model import FieldType, TaskTemplate, TemplateField
from tests.input.helpers import row, template

TPL = template()


def mapped(values: dict[str, object], tpl: TaskTemplate | None = TPL, **config: object):  # type: ignore[no-untyped-def]
    return Mapper(MappingConfig(**config)).map_row(row(values), tpl)  # type: ignore[arg-type]


def test_conventional_columns_feed_top_level_parameters() -> None:
    result = mapped(
        {
            "name": "Call back",
            "description": "About the order",
            "scheduled_time": "2030-01-01T10:00:00+01:00",
            "contact_flow_id": "flow-9",
            "previous_contact_id": "c-1",
            "related_contact_id": "c-2",
            "expiry_minutes": "90",
            "template": "Callback",
        }
    )
    assert result.problems == []
    assert result.request.params == {
        "Name": "Call back",
        "Description": "About the order",
        "ScheduledTime": datetime(2030, 1, 1, 9, 0, tzinfo=UTC),
        "ContactFlowId": "flow-9",
        "PreviousContactId": "c-1",
        "RelatedContactId": "c-2",
        "SegmentAttributes": {
            "connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": 90}}}
        },
        "TaskTemplateId": "tpl-1",
    }


def test_template_fields_become_references_of_the_mapped_type() -> None:
    result = mapped(
        {
            "Summary": "s",
            "Notes": "n",
            "Amount": "3.5",
            "Due": "1893553445",
            "Urgent": "TRUE",
            "Priority": "High",
            "Email": "a@example.com",
            "Link": "https://example.com",
        }
    )
    assert result.problems == []
    assert result.request.params["References"] == {
        "Summary": {"Value": "s", "Type": "STRING"},
        "Notes": {"Value": "n", "Type": "STRING"},
        "Amount": {"Value": "3.5", "Type": "NUMBER"},
        "Due": {"Value": "1893553445", "Type": "DATE"},
        "Urgent": {"Value": "true", "Type": "STRING"},
        "Priority": {"Value": "High", "Type": "STRING"},
        "Email": {"Value": "a@example.com", "Type": "EMAIL"},
        "Link": {"Value": "https://example.com", "Type": "URL"},
    }


def test_top_level_template_fields_feed_parameters_and_conventional_columns_win() -> None:
    params = mapped(
        {"Task name": "from field", "Details": "d", "When": "1893553445", "Assign to": "qc-1"}
    ).request.params
    assert params["Name"] == "from field"
    assert params["Description"] == "d"
    assert params["ScheduledTime"] == datetime.fromtimestamp(1893553445, UTC)
    assert params["QuickConnectId"] == "qc-1"
    assert "References" not in params
    both = mapped({"Task name": "from field", "name": "from column"}).request.params
    assert both["Name"] == "from column"


def test_expiry_duration_field_feeds_segment_attributes() -> None:
    params = mapped({"Expiry": "120"}).request.params
    expiry = params["SegmentAttributes"]["connect:ContactExpiry"]
    assert expiry["ValueMap"]["ExpiryDuration"]["ValueInteger"] == 120


def test_attr_and_ref_columns() -> None:
    params = mapped({"attr.customer": "C1", "ref.ticket": "T-9"}).request.params
    assert params["Attributes"] == {"customer": "C1"}
    assert params["References"] == {"ticket": {"Value": "T-9", "Type": "STRING"}}


def test_ref_column_naming_a_template_field_is_a_problem() -> None:
    result = mapped({"ref.Amount": "3"})
    assert [p.code for p in result.problems] == [Code.INVALID_REFERENCE_KEY]
    assert "References" not in result.request.params


def test_empty_cells_are_absent_and_defaults_fill_them() -> None:
    tpl = template(defaults={"Priority": "Low", "Task name": "Default name"})
    params = mapped({"Priority": "", "name": ""}, tpl).request.params
    assert params["References"]["Priority"] == {"Value": "Low", "Type": "STRING"}
    assert params["Name"] == "Default name"
    assert mapped({"Priority": "High"}, tpl).request.params["References"]["Priority"]["Value"] == (
        "High"
    )


def test_constants_apply_unless_the_row_has_a_value_and_beat_defaults() -> None:
    tpl = template(defaults={"Priority": "Low"})
    constants = {"Priority": "High", "contact_flow_id": "flow-c", "attr.source": "import"}
    params = mapped({"Priority": ""}, tpl, constants=constants).request.params
    assert params["References"]["Priority"]["Value"] == "High"
    assert params["ContactFlowId"] == "flow-c"
    assert params["Attributes"] == {"source": "import"}
    own = mapped({"contact_flow_id": "flow-row"}, tpl, constants=constants).request.params
    assert own["ContactFlowId"] == "flow-row"


def test_rename_route_and_ignore() -> None:
    config = {
        "rename": {"Title": "name", "Cost": "Amount"},
        "attributes": ["customer"],
        "references": ["ticket"],
        "ignore": ["internal"],
    }
    result = mapped(
        {"Title": "t", "Cost": "7", "customer": "C1", "ticket": "T1", "internal": "x"},
        TPL,
        **config,
    )
    params = result.request.params
    assert params["Name"] == "t"
    assert params["References"] == {
        "Amount": {"Value": "7", "Type": "NUMBER"},
        "ticket": {"Value": "T1", "Type": "STRING"},
    }
    assert params["Attributes"] == {"customer": "C1"}
    assert result.problems == []


def test_unknown_columns_are_collected_once_and_are_problems_only_when_strict() -> None:
    mapper = Mapper(MappingConfig())
    for n in range(3):
        assert mapper.map_row(row({"name": "a", "colour": str(n)}), TPL).problems == []
    assert mapper.unknown_columns == ("colour",)
    strict = mapped({"name": "a", "colour": "red", "shade": ""}, strict=True)
    assert [(p.code, p.field) for p in strict.problems] == [(Code.UNKNOWN_COLUMN, "colour")]


def test_without_a_template_columns_are_not_sent_and_reported_until_a_row_has_one() -> None:
    """A row whose template is missing cannot tell template fields from stray columns: its
    unknown columns are reported only when no row had a template."""
    mapper = Mapper()
    result = mapper.map_row(row({"name": "a", "Amount": "1"}), None)
    assert "TaskTemplateId" not in result.request.params
    assert "References" not in result.request.params
    assert mapper.unknown_columns == ("Amount",)
    mapper.map_row(row({"name": "a", "Amount": "1", "Stray": "x"}), TPL)
    assert list(mapper.unknown_columns) == ["Stray"]


def test_self_assign_fields_cannot_be_set_from_a_file() -> None:
    assert [p.code for p in mapped({"Me": "x"}).problems] == [Code.UNSUPPORTED_FIELD]


def test_value_problems_name_the_field_and_not_the_value() -> None:
    result = mapped({"Amount": "secret-123", "Email": "secret", "scheduled_time": "secret"})
    codes = {(p.code, p.field) for p in result.problems}
    assert codes == {
        (Code.INVALID_NUMBER, "Amount"),
        (Code.INVALID_EMAIL, "Email"),
        (Code.INVALID_SCHEDULED_TIME, "scheduled_time"),
    }
    assert all("secret" not in p.message for p in result.problems)


def test_id_parameters_are_held_to_the_model_lengths() -> None:
    result = mapped({"previous_contact_id": "x" * 257, "related_contact_id": "y" * 256})
    assert [(p.code, p.field) for p in result.problems] == [
        (Code.VALUE_TOO_LONG, "previous_contact_id")
    ]


def test_jsonl_nested_objects_and_json_scalars() -> None:
    result = mapped(
        {
            "name": "n",
            "fields": {"Amount": 3, "Urgent": True, "Summary": None},
            "attributes": {"customer": "C1"},
            "references": {"ticket": "T1"},
        }
    )
    params = result.request.params
    assert result.problems == []
    assert params["References"] == {
        "Amount": {"Value": "3", "Type": "NUMBER"},
        "Urgent": {"Value": "true", "Type": "STRING"},
        "ticket": {"Value": "T1", "Type": "STRING"},
    }
    assert params["Attributes"] == {"customer": "C1"}


def test_json_object_in_a_field_is_a_problem() -> None:
    assert [p.code for p in mapped({"Summary": {"a": 1}}).problems] == [Code.INVALID_VALUE]


def test_key_column_wins_and_content_key_ignores_order_and_empty_cells() -> None:
    assert mapped({"key": "k-1", "name": "a"}).request.key == "k-1"
    a = mapped({"name": "a", "Amount": "1", "Summary": ""}).request.key
    b = mapped({"Amount": "1", "name": "a"}).request.key
    assert a == b == content_key({"name": "a", "Amount": "1"})
    assert len(a) == 64 and set(a) <= set(string.hexdigits)
    assert mapped({"name": "a", "Amount": "2"}).request.key != a


def test_template_ref_from_column_rename_or_default() -> None:
    assert Mapper().template_ref(row({"template": " Callback "})) == "Callback"
    assert Mapper(MappingConfig(default_template="T")).template_ref(row({"template": ""})) == "T"
    renamed = Mapper(MappingConfig(rename={"tpl": "template"}))
    assert renamed.template_ref(row({"tpl": "X"})) == "X"


# --- properties -------------------------------------------------------------------------

#: Names taskloader gives a meaning of its own: a template field may have one of them too.
_RESERVED = ["Key", "template", "NAME", "Description", "References", "fields", "Attributes",
             "attachments", "Scheduled_Time", "expiry_minutes", "contact_flow_id"]  # fmt: skip
_names = st.one_of(
    st.text(string.ascii_letters + " _", min_size=1, max_size=12).filter(
        lambda s: s.strip() and not s.startswith(("attr.", "ref."))
    ),
    st.sampled_from(_RESERVED),
)
_word = st.text(string.ascii_lowercase, min_size=1, max_size=8)
_EXAMPLES = {
    FieldType.TEXT: st.text(max_size=50).filter(bool),
    FieldType.TEXT_AREA: st.text(max_size=200).filter(bool),
    FieldType.NUMBER: st.integers(-(10**12), 10**12).map(str),
    FieldType.BOOLEAN: st.sampled_from(["true", "false"]),
    FieldType.EMAIL: st.builds("{}@{}.com".format, _word, _word),
    FieldType.URL: st.builds("https://{}.org/{}".format, _word, _word),
    FieldType.DATE_TIME: st.integers(0, 4_000_000_000).map(str),
}
_WIRE = {
    FieldType.NUMBER: "NUMBER",
    FieldType.EMAIL: "EMAIL",
    FieldType.URL: "URL",
    FieldType.DATE_TIME: "DATE",
}


@st.composite
def template_and_row(draw: st.DrawFn) -> tuple[TaskTemplate, dict[str, str]]:
    # Field names are matched with letter case ignored: distinct after folding.
    names = draw(st.lists(_names, min_size=1, max_size=8, unique_by=lambda n: n.casefold()))
    types = [draw(st.sampled_from(sorted(_EXAMPLES))) for _ in names]
    fields = tuple(TemplateField(n, t) for n, t in zip(names, types, strict=True))
    values = {n: draw(_EXAMPLES[t]) for n, t in zip(names, types, strict=True)}
    values = {k: v for k, v in values.items() if v.strip()}
    return TaskTemplate(id="t", arn="a", name="T", fields=fields), values


@given(template_and_row())
def test_any_valid_field_values_round_trip_into_typed_references(
    case: tuple[TaskTemplate, dict[str, str]],
) -> None:
    tpl, values = case
    result = Mapper().map_row(row(values), tpl)
    assert result.problems == []
    refs = result.request.params.get("References", {})
    assert set(refs) == set(values)
    for name, ref in refs.items():
        field = tpl.field_named(name)
        assert field is not None
        assert ref["Type"] == _WIRE.get(field.type, "STRING")
        assert ref["Value"] == values[name]


@given(st.dictionaries(_names, st.text(max_size=20), max_size=10))
def test_keys_are_stable_and_independent_of_column_order(values: dict[str, str]) -> None:
    first = Mapper().map_row(row(values), None).request.key
    again = Mapper().map_row(row(dict(reversed(list(values.items())))), None).request.key
    assert first == again


@given(st.dictionaries(_names, st.text(min_size=1, max_size=20), max_size=10))
def test_unknown_columns_never_become_references_or_attributes(values: dict[str, str]) -> None:
    tpl = TaskTemplate(id="t", arn="a", name="T", fields=(TemplateField("Known", FieldType.TEXT),))
    values = {k: v for k, v in values.items() if k != "Known"}
    params = Mapper().map_row(row(values), tpl).request.params
    assert "References" not in params
    assert "Attributes" not in params


def test_nested_jsonl_objects_are_not_unknown_columns() -> None:
    mapper = Mapper()
    values = {"name": "a", "fields": {"Amount": "3"}, "attributes": {"k": "v"}, "references": {}}
    result = mapper.map_row(row(values), TPL)
    assert result.problems == []
    assert result.request.params["References"]["Amount"]["Value"] == "3"
    assert mapper.unknown_columns == ()


def test_columns_match_trimmed_and_case_folded() -> None:
    config = MappingConfig(rename={"Client": "Task NAME"}, attributes=["segment"])
    mapper = Mapper(config)
    values = {" NAME ": "n", "client": "t", "AMOUNT": "4", "Segment": "gold", "Attr.Tier": "1"}
    result = mapper.map_row(row(values), TPL)
    assert result.problems == []
    params = result.request.params
    assert params["Name"] == "n"  # the conventional column wins over the field "Task name"
    assert params["References"]["Amount"]["Value"] == "4"
    assert params["Attributes"] == {"Segment": "gold", "Tier": "1"}
    assert mapper.unknown_columns == ()


@pytest.mark.parametrize("name", _RESERVED)
def test_a_template_field_named_like_a_reserved_column_is_filled_from_it(name: str) -> None:
    """A template's TEXT field ``References`` (or ``Key``, ``Description``...) is filled from the
    column of that name: the field wins over the meaning taskloader gives the name, and a
    ``key`` or ``template`` column keeps its role as well."""
    tpl = TaskTemplate(id="t", arn="a", name="T", fields=(TemplateField(name, FieldType.TEXT),))
    values = {"Task": "Call back", name: "value of the field"}
    mapped = Mapper(MappingConfig(rename={"Task": "name"})).map_row(row(values), tpl)
    assert mapped.problems == []
    refs = mapped.request.params["References"]
    assert refs == {name: {"Value": "value of the field", "Type": "STRING"}}
    if name.casefold() == "key":
        assert mapped.request.key == "value of the field"


@pytest.mark.parametrize("column", ["References", "FIELDS", " attributes"])
def test_a_nested_column_that_is_not_an_object_is_an_error_not_dropped(column: str) -> None:
    """Without a template field of that name, ``References`` is JSONL's object of references in
    any letter case; a text cell there is reported, never silently left out of the task."""
    tpl = TaskTemplate(id="t", arn="a", name="T", fields=(TemplateField("Claim", FieldType.TEXT),))
    mapped = Mapper().map_row(row({"name": "n", column: "some text"}), tpl)
    assert [(p.field, p.code) for p in mapped.problems] == [(column, Code.INVALID_VALUE)]
    inner = "Claim" if column == "FIELDS" else "Other"
    nested = Mapper().map_row(row({"name": "n", column: {inner: "C-1"}}), tpl)
    assert nested.problems == []
    sent = {
        **nested.request.params.get("References", {}),
        **nested.request.params.get("Attributes", {}),
    }
    assert inner in sent


def test_fields_that_differ_only_in_case_are_filled_only_by_their_exact_column() -> None:
    """A template (made in the console) may hold ``Email`` and ``email``: each column written
    exactly fills its own field; a column matching both only once folded is the row's
    ``ambiguous_field`` problem, never silently given to one of them."""
    tpl = TaskTemplate(
        id="t", arn="a", name="T",
        fields=(TemplateField("Email", FieldType.EMAIL), TemplateField("email", FieldType.TEXT)),
    )  # fmt: skip
    exact = Mapper().map_row(row({"name": "n", "Email": "a@b.co"}), tpl)
    assert exact.problems == []
    assert exact.request.params["References"] == {"Email": {"Value": "a@b.co", "Type": "EMAIL"}}
    lower = Mapper().map_row(row({"name": "n", "email": "x"}), tpl)
    assert lower.request.params["References"] == {"email": {"Value": "x", "Type": "STRING"}}
    folded = Mapper().map_row(row({"name": "n", "EMAIL": "a@b.co"}), tpl)
    assert [(p.code, p.field) for p in folded.problems] == [(Code.AMBIGUOUS_FIELD, "EMAIL")]
    assert "References" not in folded.request.params


def test_nested_columns_written_as_json_text_are_read_back() -> None:
    """A CSV result file of a JSONL input holds its nested objects as JSON text (and an empty
    cell for none): fed back, they are the objects again; other text is still an error."""
    tpl = TaskTemplate(id="t", arn="a", name="T", fields=(TemplateField("Claim", FieldType.TEXT),))
    cells = {"name": "n", "fields": '{"Claim": "C-1"}', "attributes": " ", "references": ""}
    mapped = Mapper().map_row(row(cells), tpl)
    assert mapped.problems == []
    assert mapped.request.params["References"] == {"Claim": {"Value": "C-1", "Type": "STRING"}}
    bad = Mapper().map_row(row({"name": "n", "fields": "[1, 2]"}), tpl)
    assert [(p.code, p.field) for p in bad.problems] == [(Code.INVALID_VALUE, "fields")]


def test_a_value_given_both_flat_and_nested_is_the_rows_problem() -> None:
    """``"Customer name"`` and ``"fields": {"Customer name": ...}`` in one JSONL row: which
    would be sent is not left to key order; the row says it gives the value twice."""
    tpl = TaskTemplate(
        id="t", arn="a", name="T", fields=(TemplateField("Customer name", FieldType.TEXT),)
    )
    values = {"name": "n", "Customer name": "Flat", "fields": {"Customer name": "Nested"},
              "attr.x": "2", "attributes": {"x": "1", "y": "3"}}  # fmt: skip
    mapped = Mapper().map_row(row(values), tpl)
    assert [(p.code, p.field) for p in mapped.problems] == [
        (Code.INVALID_VALUE, "Customer name"),
        (Code.INVALID_VALUE, "attr.x"),
    ]


def test_two_attachments_of_one_file_name_are_the_rows_problem() -> None:
    values = {"name": "n", "attachment.a.pdf": "s3://claims/1.pdf",
              "attachments": [{"file_name": "a.pdf", "url": "s3://claims/2.pdf"}]}  # fmt: skip
    mapped = Mapper().map_row(row(values), None)
    assert [(p.code, p.field) for p in mapped.problems] == [
        (Code.INVALID_ATTACHMENT_NAME, "attachment.a.pdf")
    ]
