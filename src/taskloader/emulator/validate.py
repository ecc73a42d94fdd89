"""Generic input validation compiled from botocore shape definitions.

:func:`compile_shape` turns a shape of the service model into a plain function that checks a
decoded JSON value against it: types, required members, string lengths, integer bounds, list and
map sizes, enums and unions. The functions are built once at start-up, so a request pays only for
the checks themselves; the member path of a violation is assembled only when one is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], None]


class Violation(Exception):
    """A value breaks the model: ``kind`` is ``"type"`` (wrong JSON type) or ``"constraint"``.

    ``path`` is filled in from the innermost member outwards while the exception propagates.
    """

    def __init__(self, kind: str, constraint: str, *, missing: bool = False) -> None:
        self.kind = kind
        self.constraint = constraint
        self.missing = missing
        self.path: list[str] = []
        super().__init__(constraint)

    @property
    def member(self) -> str:
        out = ""
        for part in reversed(self.path):
            out += part if part.startswith("[") or not out else "." + part
        return out or "(request)"

    def describe(self) -> str:
        return (
            f"1 validation error detected: Value at '{self.member}' failed to satisfy "
            f"constraint: {self.constraint}"
        )


def _noop(value: Any) -> None:
    return None


class ShapeCompiler:
    """Compiles shapes of one service model; shared sub-shapes (and recursive ones) compile once."""

    def __init__(self, shapes: Mapping[str, Mapping[str, Any]]) -> None:
        self._shapes = shapes
        self._cache: dict[str, Check] = {}

    def compile(self, name: str) -> Check:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        # A forwarding cell makes recursive shapes (SegmentAttributeValue) work.
        cell: list[Check] = [_noop]

        def forward(value: Any) -> None:
            cell[0](value)

        self._cache[name] = forward
        built = self._build(self._shapes[name])
        cell[0] = built
        self._cache[name] = built
        return built

    def _build(self, shape: Mapping[str, Any]) -> Check:
        kind = shape["type"]
        builder = {
            "string": _string,
            "blob": _string,
            "integer": _integer,
            "long": _integer,
            "boolean": _boolean,
            "float": _number,
            "double": _number,
            "timestamp": _timestamp,
        }.get(kind)
        if builder is not None:
            return builder(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "structure":
            return self._structure(shape)
        return _noop  # document and other free-form types are accepted as sent

    def _list(self, shape: Mapping[str, Any]) -> Check:
        item = self.compile(shape["member"]["shape"])
        size = _size_check(shape, "Member must have length")

        def check(value: Any) -> None:
            if not isinstance(value, list):
                raise Violation("type", "Member must be a list")
            size(len(value))
            for i, element in enumerate(value):
                try:
                    item(element)
                except Violation as v:
                    v.path.append(f"[{i}]")
                    raise

        return check

    def _map(self, shape: Mapping[str, Any]) -> Check:
        key_check = self.compile(shape["key"]["shape"])
        value_check = self.compile(shape["value"]["shape"])
        size = _size_check(shape, "Map must have size")

        def check(value: Any) -> None:
            if not isinstance(value, dict):
                raise Violation("type", "Member must be a map (JSON object)")
            size(len(value))
            for k, v in value.items():
                try:
                    key_check(k)
                    value_check(v)
                except Violation as violation:
                    violation.path.append(str(k)[:64])
                    raise

        return check

    def _structure(self, shape: Mapping[str, Any]) -> Check:
        members = tuple(
            (name, self.compile(spec["shape"])) for name, spec in shape.get("members", {}).items()
        )
        required = tuple(shape.get("required", ()))
        union = bool(shape.get("union"))

        def check(value: Any) -> None:
            if not isinstance(value, dict):
                raise Violation("type", "Member must be a structure (JSON object)")
            for name in required:
                if value.get(name) is None:
                    v = Violation("constraint", "Member must not be null", missing=True)
                    v.path.append(name)
                    raise v
            set_count = 0
            for name, member_check in members:
                member_value = value.get(name)
                if member_value is None:
                    continue
                set_count += 1
                try:
                    member_check(member_value)
                except Violation as v:
                    v.path.append(name)
                    raise
            if union and set_count != 1:
                raise Violation("constraint", "Exactly one member of the union must be set")

        return check


def _size_check(shape: Mapping[str, Any], what: str) -> Callable[[int], None]:
    low = shape.get("min")
    high = shape.get("max")
    if not low and high is None:
        return lambda n: None

    def check(n: int) -> None:
        if low and n < low:
            raise Violation("constraint", f"{what} greater than or equal to {low}")
        if high is not None and n > high:
            raise Violation("constraint", f"{what} less than or equal to {high}")

    return check


def _string(shape: Mapping[str, Any]) -> Check:
    low = shape.get("min") or 0
    high = shape.get("max")
    enum = frozenset(shape.get("enum", ()))
    enum_text = ", ".join(shape.get("enum", ()))

    def check(value: Any) -> None:
        if not isinstance(value, str):
            raise Violation("type", "Member must be a string")
        n = len(value)
        if n < low:
            raise Violation("constraint", f"Member must have length greater than or equal to {low}")
        if high is not None and n > high:
            raise Violation("constraint", f"Member must have length less than or equal to {high}")
        if enum and value not in enum:
            raise Violation("constraint", f"Member must satisfy enum value set: [{enum_text}]")

    return check


def _integer(shape: Mapping[str, Any]) -> Check:
    low = shape.get("min")
    high = shape.get("max")

    def check(value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Violation("type", "Member must be an integer")
        if low is not None and value < low:
            raise Violation("constraint", f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            raise Violation("constraint", f"Member must have value less than or equal to {high}")

    return check


def _boolean(shape: Mapping[str, Any]) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, bool):
            raise Violation("type", "Member must be a boolean")

    return check


def _number(shape: Mapping[str, Any]) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Violation("type", "Member must be a number")

    return check


def _timestamp(shape: Mapping[str, Any]) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Violation("type", "Member must be a timestamp in epoch seconds")

    return check
