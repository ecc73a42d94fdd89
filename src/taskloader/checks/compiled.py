"""Dry-run checking of CSV records without building requests: a plan compiled to one function.

`taskloader validate` needs each row's problems, not its StartTaskContact parameters. For one
(template, CSV header) :func:`compile_check` writes a function that reads the record's cells by
position, runs the same value rules as the mapper (through :func:`mapping_compile.assign`), then
the request rules of :func:`validation.validate` and the cross-row checks, in the same order and
with the same :class:`Problem` values, and builds nothing it does not need: no row dict, no
Reference objects, no params dict. Rows it cannot take (ragged records, a template that did not
resolve, nested JSON column names) go through :func:`validation.check_row` instead.

``tests/input/test_record_check.py`` holds the two paths equal on generated rows. Two
differences, neither visible in the problems: "now" for the scheduled-time rules is read once
per chunk, not once per row; and a row without a key is told apart from the others by a hash
of its cells (:func:`record_digest`) rather than by its sha256 content key, which only `run`
needs (for the ClientToken).

As in :mod:`taskloader.mapping.compile`, only ``repr`` of strings and names placed in the
function's namespace reach the source text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from taskloader.checks.request import (
    AMBIGUOUS_FLOW,
    DUPLICATE,
    IN_PAST,
    NO_FLOW,
    NO_NAME,
    TEMPLATE_HAS_FLOW,
    CrossRowChecks,
    Limits,
    attributes_too_large,
    check_attribute_keys,
    description_too_long,
    digest,
    name_too_long,
    references_too_large,
    refused,
    required_fields,
    required_missing,
    template_problem,
    too_far,
)
from taskloader.input.csvheader import CsvHeader
from taskloader.mapping.compile import assign
from taskloader.mapping.plan import ATTR, PARAM, REF, Plan
from taskloader.mapping.rules import BadValue, Code, Problem
from taskloader.templates.model import TaskTemplate

_U64 = (1 << 64) - 1


class RecordCheck(NamedTuple):
    """One compiled check, twice: for a record, and for a run of records of the header's width.

    ``row(cells, now, latest)`` is the record's problems; ``latest`` is ``now`` plus the schedule
    horizon. ``rows(records, start, now, latest)`` checks ``records[start:]`` in one loop (no
    call per record) and stops at the first record of another width, returning its index (or
    ``len(records)``) with ``(index, problems)`` for each invalid record checked.
    """

    row: Callable[[list[str], datetime, datetime], list[Problem]]
    rows: Callable[
        [list[list[str]], int, datetime, datetime], tuple[int, list[tuple[int, list[Problem]]]]
    ]


def compile_check(
    plan: Plan,
    header: CsvHeader,
    template: TaskTemplate | None,
    limits: Limits,
    cross: CrossRowChecks,
) -> RecordCheck:
    """The check of records with ``header`` against ``template``, as planned by ``plan`` (for
    ``header.names``)."""
    position = dict(zip(header.names, header.named, strict=True))  # unnamed cells: no column
    ns: dict[str, Any] = {"BadValue": BadValue, "Problem": Problem}
    params: dict[str, str] = {}  # top-level parameter -> its local variable
    local: dict[tuple[int, str], str] = {}  # (REF or ATTR, key) -> its local variable
    attr_keys = [target for _, sink, target, *_ in plan.entries if sink == ATTR]
    bad_keys: list[Problem] = []
    check_attribute_keys(dict.fromkeys(attr_keys, ""), bad_keys)
    for _, sink, target, *_ in plan.entries:
        if sink == PARAM:
            params.setdefault(target, f"q{len(params)}")
        elif sink == REF or (sink == ATTR and not bad_keys):
            local.setdefault((sink, target), f"x{len(local)}")
    cells = ", ".join(f"c{i}" for i in range(header.width))
    src = [f"    {cells}, = rec", "    problems = []"]  # callers pass records of this width
    if bad_keys:  # attribute keys are checked per row, in the order the row sets them
        src.append("    attrs = {}")
    if params or local:
        src.append(f"    {' = '.join([*params.values(), *local.values()])} = None")
    for i, entry in enumerate(plan.entries):
        column, sink, target, _, fallback, _ = entry
        dest = local.get((sink, target)) or params.get(target)
        if sink == ATTR and dest is None:
            dest = f"attrs[{target!r}]"
        if column not in position:  # fed only by a constant or a template default
            if fallback is not None:
                ns[f"f{i}"] = fallback
                src += [f"    v = f{i}", *assign(i, entry, ns, "    ", dest)]
            continue
        src += [
            f"    v = c{position[column]}",
            "    if v:",
            *assign(i, entry, ns, "        ", dest),
        ]
        if fallback is not None:
            ns[f"f{i}"] = fallback
            src += ["    else:", f"        v = f{i}", *assign(i, entry, ns, "        ", dest)]
    src.append("    whole = _join(rec)")  # the cells, NUL-separated: a size bound and the digest
    ns["_join"] = "\x00".join
    src += _request_rules(template, limits, params, local, ns)
    src += _sizes(plan, limits, local, bool(bad_keys), ns)
    src += _scheduled(params.get("ScheduledTime"))
    src += _cross_row(
        plan, position, bool(header.unnamed), params.get("PreviousContactId"), cross, ns
    )
    row = ["def row(rec, now, latest):", *src, "    return problems"]
    rows = [
        "def rows(records, start, now, latest):",
        "    bad = []",
        "    for i in range(start, len(records)):",
        "        rec = records[i]",
        f"        if len(rec) != {header.width}:",
        "            return i, bad",
        *["    " + line for line in src],
        "        if problems:",
        "            bad.append((i, problems))",
        "    return len(records), bad",
    ]
    code = "\n".join([*row, *rows])
    exec(compile(code, "<record check>", "exec"), ns)  # noqa: S102 - see module doc
    return RecordCheck(ns["row"], ns["rows"])


def _request_rules(
    template: TaskTemplate | None,
    limits: Limits,
    params: dict[str, str],
    local: dict[tuple[int, str], str],
    ns: dict[str, Any],
) -> list[str]:
    """:func:`validation.validate` up to the size rules, specialised: rules that cannot fire
    are left out."""
    ns.update(
        _inactive=template_problem(Code.TEMPLATE_INACTIVE),
        _no_name=NO_NAME,
        _name_long=name_too_long(limits),
        _desc_long=description_too_long(limits),
        _ambiguous=AMBIGUOUS_FLOW,
        _no_flow=NO_FLOW,
        _has_flow=TEMPLATE_HAS_FLOW,
        _past=IN_PAST,
        _far=too_far(limits),
    )
    src = []
    required = required_fields(template) if template is not None else ()
    if required:  # the mapper's problems, for `refused`
        ns["_refused"] = refused
        src.append("    m = len(problems)")
    if template is not None and not template.active:
        src.append("    problems.append(_inactive)")
    name, description = params.get("Name"), params.get("Description")
    if name is None:
        src.append("    problems.append(_no_name)")
    else:
        src += [
            f"    if not {name}:",
            "        problems.append(_no_name)",
            f"    elif len({name}) > {limits.name_max}:",
            "        problems.append(_name_long)",
        ]
    if description is not None:
        src += [
            f"    if {description} and len({description}) > {limits.description_max}:",
            "        problems.append(_desc_long)",
        ]
    flows = [params[p] for p in ("ContactFlowId", "QuickConnectId") if p in params]
    needs_flow = template is None or not template.contact_flow_id
    # the cases of request.validate: both given; given beside a template's own flow; none
    if len(flows) == 2:
        src += [
            f"    if {flows[0]} is not None and {flows[1]} is not None:",
            "        problems.append(_ambiguous)",
        ]
        if needs_flow:
            src += [
                f"    elif {flows[0]} is None and {flows[1]} is None:",
                "        problems.append(_no_flow)",
            ]
        else:
            src += [
                f"    elif {flows[0]} is not None or {flows[1]} is not None:",
                "        problems.append(_has_flow)",
            ]
    elif needs_flow and flows:
        src += [f"    if {flows[0]} is None:", "        problems.append(_no_flow)"]
    elif needs_flow:
        src.append("    problems.append(_no_flow)")
    elif flows:
        src += [f"    if {flows[0]} is not None:", "        problems.append(_has_flow)"]
    for k, field in enumerate(required):
        ns[f"_req{k}"], ns[f"_field{k}"] = required_missing(field.name), field
        if field.param is None:
            ref = local.get((REF, field.name))
            test = "" if ref is None else f"{ref} is None and "
        else:
            test = f"{params[field.param]} is None and " if field.param in params else ""
        # no test: nothing can set the field, but a column may still be refused for it
        src += [
            f"    if {test}not _refused(_field{k}, problems[:m]):",
            f"        problems.append(_req{k})",
        ]
    return src


def _scheduled(when: str | None) -> list[str]:
    if when is None:
        return []
    return [
        f"    if {when} is not None:",
        f"        if {when} < now:",
        "            problems.append(_past)",
        f"        elif {when} > latest:",
        "            problems.append(_far)",
    ]


def _sizes(
    plan: Plan,
    limits: Limits,
    local: dict[tuple[int, str], str],
    attrs_dict: bool,
    ns: dict[str, Any],
) -> list[str]:
    """The References and Attributes size rules and the attribute key rule.

    The exact sizes are only worked out when a bound says they might be over a limit: a value
    sent is at most 4 UTF-8 bytes per character of its cell (or of the constant or default
    that filled it), so the record's text, the fallbacks and the keys bound both totals.
    """
    refs = {target for _, sink, target, *_ in plan.entries if sink == REF}
    attrs = {target for _, sink, target, *_ in plan.entries if sink == ATTR}
    if not refs and not attrs:
        return []
    limit = min(
        limits.references_max_bytes if refs else limits.attributes_max_bytes,
        limits.attributes_max_bytes if attrs else limits.references_max_bytes,
    )
    keys = sum(len(key.encode()) for key in refs | attrs)
    fallbacks = sum(len(e[4]) for e in plan.entries if e[4] is not None and e[1] in (REF, ATTR))
    ns.update(_limits=limits, _refs_large=references_too_large, _attrs_large=attributes_too_large)
    src = [f"    big = len(whole) > {(limit - keys) // 4 - fallbacks}"]
    if refs:
        src += [*_gather("refs", REF, local), *_exact("refs", limits.references_max_bytes)]
    if attrs_dict:
        ns["_check_keys"] = check_attribute_keys
        src += ["    if attrs:", "        _check_keys(attrs, problems)"]
    elif attrs:
        src += _gather("attrs", ATTR, local)
    if attrs:
        src += _exact("attrs", limits.attributes_max_bytes)
    return src


def _gather(name: str, sink: int, local: dict[tuple[int, str], str]) -> list[str]:
    """Only when the bound is passed: the dict of the keys set, from their local variables."""
    src = ["    if big:", f"        {name} = {{}}"]
    for (kind, key), var in local.items():
        if kind == sink:
            src += [f"        if {var} is not None:", f"            {name}[{key!r}] = {var}"]
    return src


def _exact(name: str, limit: int) -> list[str]:
    large = "_refs_large" if name == "refs" else "_attrs_large"
    return [
        f"    if big and {name}:",
        f"        t = ''.join({name}) + ''.join({name}.values())",
        "        size = len(t) if t.isascii() else len(t.encode())",
        f"        if size > {limit}:",
        f"            problems.append({large}(size, _limits))",
    ]


def record_digest(record: list[str], width: int, skip: frozenset[int] = frozenset()) -> int:
    """The digest the duplicate check uses for a record without a key: a hash of its cells,
    NUL-separated (NUL never occurs in a cell: the reader refuses it).

    It stands in for the content key (see :func:`mapping.content_key`): within one file (one
    header) two records have the same cells exactly when they have the same content key. A short
    record is padded with empty cells and a long one cut, as its row's values are.
    """
    if len(record) != width:
        record = (record + [""] * width)[:width]
    if skip:  # the columns of an earlier result file are not the row's content
        record = [cell for i, cell in enumerate(record) if i not in skip]
    return hash("\x00".join(record)) & _U64


def _cross_row(
    plan: Plan,
    position: dict[str, int],
    unnamed: bool,
    previous: str | None,
    cross: CrossRowChecks,
    ns: dict[str, Any],
) -> list[str]:
    """The row key's digest (the ``key`` cell, else :func:`record_digest`) and the cross-row
    checks."""
    ns.update(
        _digest=digest,
        _hash=hash,
        _seen=cross.seen,
        _count=cross.count_previous,
        _dup=DUPLICATE,
        _too_many=cross.too_many,
    )
    content = f"_hash(whole) & {_U64}"
    if plan.results or unnamed:  # as record_digest: without an earlier result file's columns
        # and the unnamed ones (not in ``position``)
        skip = {position[c] for c in plan.results}
        kept = "".join(f"c{i}, " for i in sorted(position.values()) if i not in skip)
        content = f"_hash(_join(({kept}))) & {_U64}"
    if plan.key_column is not None:
        src = [
            f"    d = rec[{position[plan.key_column]}]",
            f"    d = _digest(d) if d else {content}",
        ]
    else:
        src = [f"    d = {content}"]
    src += ["    if _seen(d):", "        problems.append(_dup)"]
    if previous is not None:
        src += [
            f"    if {previous} and _count(_digest({previous})) > {cross.previous_max}:",
            "        problems.append(_too_many)",
        ]
    return src
