"""A mapping plan compiled into one straight-line Python function.

:func:`compile_plan` writes the source of a function specialised to one (template, column set)
and ``exec``-compiles it once; every row with those columns then costs one call with no loop, no
per-entry tuple unpacking and, for the length and option rules, no call at all. The generated
code does exactly what the uniform entry loop did (kept as the reference semantics below):

    for column, sink, target, rule, fallback, label in entries:
        value = values.get(column)
        if value is not a str and not None: value = scalar_text(value)  # problem -> next entry
        if not value: value = fallback; if value is None: next entry
        sinks[sink][target] = rule(value)  # BadValue -> Problem(code, label, message)

Only ``repr`` of strings and names of objects placed in the function's own namespace reach the
source text, so no input (column names come from files) can inject code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from taskloader.mapping.rules import (
    OPTION_MESSAGE,
    BadValue,
    Code,
    LengthRule,
    OptionRule,
    PatternRule,
    Problem,
    scalar_text,
)

#: ``run(values) -> (key, params, problems)`` for one row's values.
Compiled = Callable[[Mapping[str, Any]], tuple[str, dict[str, Any], list[Problem]]]

#: (column, sink, target, rule, fallback, label), as in :mod:`taskloader.mapping.plan`.
Entry = tuple[str, int, str, Callable[[str], Any], str | None, str]

_SINKS = ("refs", "attrs", "params")


def hash_cells(names: tuple[str, ...], cells: tuple[Any, ...], template: str | None) -> str:
    """The content key: sha256 (hex) of ``name NUL cell NUL`` for each non-empty cell, in name
    order. NUL cannot occur in CSV cells (the reader refuses NUL bytes). ``template`` is that
    encoding as a %-format, for rows without empty cells."""
    if template is not None and "" not in cells and None not in cells:
        return hashlib.sha256((template % cells).encode()).hexdigest()
    parts = []
    for name, cell in zip(names, cells, strict=True):
        if cell is not None and cell != "":
            parts.append(f"{name}\x00%s\x00" % (cell,))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _coerce(value: Any, problems: list[Problem], label: str) -> str | bool:
    """A JSON value as text; False (after recording the problem) when it cannot be one."""
    try:
        text = scalar_text(value)
    except BadValue as exc:
        problems.append(Problem(exc.code, label, exc.message))
        return False
    return text if text is not None else ""


def assign(
    i: int, entry: Entry, ns: dict[str, Any], pad: str, dest: str | None = None
) -> list[str]:
    """Lines that check ``v`` (a str) and store the entry's value, or record its problem.

    ``dest``: store the bare checked value there (a Reference's value unwrapped) instead of in
    the entry's sink; :mod:`taskloader.checks.compiled` uses this to check without building."""
    _, sink, target, rule, _, label = entry
    if sink >= len(_SINKS):  # a refused column or field: the rule always raises
        ns[f"r{i}"] = rule
        return [
            f"{pad}try:",
            f"{pad}    r{i}(v)",
            f"{pad}except BadValue as e:",
            f"{pad}    problems.append(Problem(e.code, {label!r}, e.message))",
        ]
    ref_type = getattr(rule, "ref_type", None)
    # A rule with a `check` wraps that check's value (a Reference, SegmentAttributes); checking
    # alone (``dest``) or wrapping inline (a Reference) needs only the check.
    check = getattr(rule, "check", rule) if ref_type is not None or dest is not None else rule
    guard = None
    lines: list[str] = []
    if check is str:
        value = "v"
    elif isinstance(check, LengthRule):
        guard, value = f"len(v) > {check.limit}", "v"
        ns[f"p{i}"] = Problem(check.code, label, check.message)
    elif isinstance(check, OptionRule):
        guard, value = f"v not in o{i}", "v"
        ns[f"o{i}"] = check.allowed
        ns[f"p{i}"] = Problem(Code.INVALID_OPTION, label, OPTION_MESSAGE)
    elif isinstance(check, PatternRule):
        guard, value = f"not m{i}(v)", "v"
        if check.limit is not None:
            guard = f"len(v) > {check.limit} or {guard}"
        if check.strip:
            lines.append(f"{pad}v = v.strip()")
        ns[f"m{i}"] = check.pattern.fullmatch
        ns[f"p{i}"] = Problem(check.code, label, check.message)
    else:
        ns[f"r{i}"] = check
        value = f"r{i}(v)"
    if dest is not None:
        store = f"{dest} = {value}"
    else:
        if ref_type is not None:
            value = f"{{'Value': {value}, 'Type': {ref_type!r}}}"
        store = f"{_SINKS[sink]}[{target!r}] = {value}"
    if guard is not None:
        return [
            *lines,
            f"{pad}if {guard}:",
            f"{pad}    problems.append(p{i})",
            f"{pad}else:",
            f"{pad}    {store}",
        ]
    if check is str:
        return [f"{pad}{store}"]
    return [
        f"{pad}try:",
        f"{pad}    {store}",
        f"{pad}except BadValue as e:",
        f"{pad}    problems.append(Problem(e.code, {label!r}, e.message))",
    ]


def compile_plan(
    entries: tuple[Entry, ...],
    template_id: str | None,
    key_column: str | None,
    sorted_columns: tuple[str, ...],
    key_template: str | None,
    sorted_cells: Callable[[Any], tuple[Any, ...]],
) -> Compiled:
    ns: dict[str, Any] = {
        "BadValue": BadValue,
        "Problem": Problem,
        "_coerce": _coerce,
        "_sha256": hashlib.sha256,
        "_hash_cells": hash_cells,
        "_cells": sorted_cells,
        "_names": sorted_columns,
    }
    src = [
        "def run(values):",
        "    get = values.get",
        "    problems = []",
        "    params = {}",
        "    refs = {}",
        "    attrs = {}",
    ]
    present = frozenset(sorted_columns)  # the plan's columns: exactly the row's keys
    for i, entry in enumerate(entries):
        column, _, _, _, fallback, label = entry
        if column not in present:  # fed only by a constant or a template default
            if fallback is not None:
                ns[f"f{i}"] = fallback
                src += [f"    v = f{i}", *assign(i, entry, ns, "    ")]
            continue
        src += [
            f"    v = values[{column!r}]",
            "    if v.__class__ is not str and v is not None:",
            f"        v = _coerce(v, problems, {label!r})",
            "    if v:",
            *assign(i, entry, ns, "        "),
        ]
        if fallback is not None:
            ns[f"f{i}"] = fallback
            src += [
                "    elif v is not False:",
                f"        v = f{i}",
                *assign(i, entry, ns, "        "),
            ]
    if template_id is not None:
        src.append(f"    params['TaskTemplateId'] = {template_id!r}")
    src += [
        "    if refs:",
        "        params['References'] = refs",
        "    if attrs:",
        "        params['Attributes'] = attrs",
    ]
    if key_column is not None:
        src += [
            f"    key = get({key_column!r})",
            "    if key is not None and key != '':",
            "        return (key if key.__class__ is str else str(key)), params, problems",
        ]
    src.append("    cells = _cells(values)")
    if key_template is not None:
        ns["_tmpl"] = key_template
        src += [
            "    if '' not in cells and None not in cells:",
            "        return _sha256((_tmpl % cells).encode()).hexdigest(), params, problems",
        ]
    src.append("    return _hash_cells(_names, cells, None), params, problems")
    exec(compile("\n".join(src), "<mapping plan>", "exec"), ns)  # noqa: S102 - see module doc
    run: Compiled = ns["run"]
    return run
