"""The compiled plan does exactly what the uniform entry loop (the reference semantics) does."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from taskloader.mapping.compile import hash_cells
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.mapper import Mapper
from taskloader.mapping.plan import Plan
from taskloader.mapping.rules import BadValue, Problem, scalar_text
from tests.input.helpers import row, template

TPL = template(defaults={"Urgent": "false", "Amount": "oops"})


def reference(plan: Plan, values: dict[str, Any]) -> tuple[str, dict[str, Any], list[Problem]]:
    """The pre-compilation loop of Mapper.map_row, kept here as the specification."""
    params: dict[str, Any] = {}
    refs: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    problems: list[Problem] = []
    sinks = (refs, attrs, params)
    for column, sink, target, rule, fallback, label in plan.entries:
        value = values.get(column)
        if value.__class__ is not str and value is not None:
            try:
                value = scalar_text(value)
            except BadValue as exc:
                problems.append(Problem(exc.code, label, exc.message))
                continue
        if not value:
            value = fallback
            if value is None:
                continue
        try:
            sinks[sink][target] = rule(value)
        except BadValue as exc:
            problems.append(Problem(exc.code, label, exc.message))
    params["TaskTemplateId"] = TPL.id
    if refs:
        params["References"] = refs
    if attrs:
        params["Attributes"] = attrs
    key = values.get(plan.key_column) if plan.key_column else None
    if key is None or key == "":
        key = hash_cells(plan.sorted_columns, plan.sorted_cells(values), None)
    return str(key), params, problems


_COLUMNS = ["name", "Summary", "Notes", "Amount", "Due", "Urgent", "Priority", "Email", "Link"]
_COLUMNS += ["attr.x", "ref.y", "expiry_minutes", "scheduled_time", "Me", "key", "odd'col\""]
_CELLS = st.one_of(
    st.sampled_from(["", "x", "High", "3.5", "TRUE", "a@b.co", "https://h", "1893553445", "90"]),
    st.text(max_size=8),
    st.none(),
    st.integers(),
    st.booleans(),
    st.just({"nested": 1}),
)


@given(st.dictionaries(st.sampled_from(_COLUMNS), _CELLS, min_size=1))
def test_compiled_plan_matches_the_reference_loop(values: dict[str, Any]) -> None:
    mapper = Mapper(MappingConfig(constants={"Notes": "constant"}))
    got = mapper.map_row(row(values), TPL)
    plan = mapper.plan(TPL, tuple(values))
    key, params, problems = reference(plan, values)
    assert got.request.key == key
    assert got.request.params == params
    assert got.problems == problems


def test_column_names_that_look_like_code_are_only_names() -> None:
    column = "x'] = 1\nimport os #"
    mapper = Mapper(MappingConfig(attributes=[column]))
    got = mapper.map_row(row({column: "v", "name": "n"}), TPL)
    assert got.request.params["Attributes"] == {column: "v"}
