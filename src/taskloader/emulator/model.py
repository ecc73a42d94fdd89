"""The Connect wire contract, read from botocore's installed service model.

Routes (HTTP method and path), member locations (path, query string, body), input constraints and
the HTTP status of each modelled error all come from
``botocore/data/connect/2017-08-08/service-2.json.gz``; nothing here is copied by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from botocore.loaders import Loader

from taskloader.emulator.validate import Check, ShapeCompiler, Violation

SERVICE = "connect"
API_VERSION = "2017-08-08"

#: The operations the emulator serves.
OPERATIONS: tuple[str, ...] = (
    "StartTaskContact",
    "CreateTaskTemplate",
    "GetTaskTemplate",
    "ListTaskTemplates",
    "UpdateTaskTemplate",
    "DeleteTaskTemplate",
    "TransferContact",
    "UpdateContact",
    "ListContactReferences",
    "DescribeContact",
    "StopContact",
    "ListContactFlows",
    "ListQuickConnects",
)


@dataclass(frozen=True, slots=True)
class QueryMember:
    member: str
    wire_name: str
    shape_type: str
    is_list: bool
    item_type: str


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """Everything the server needs to route, bind and validate one operation."""

    name: str
    method: str
    path: str  # aiohttp route pattern, e.g. /instance/{InstanceId}/task/template
    uri_members: tuple[tuple[str, str], ...]  # (member, placeholder)
    query_members: tuple[QueryMember, ...]
    body_members: frozenset[str]
    errors: frozenset[str]
    check: Check

    @property
    def validation_error(self) -> str:
        """The modelled error for a constraint violation in the request body."""
        for code in ("PropertyValidationException", "InvalidParameterException"):
            if code in self.errors:
                return code
        return "InvalidRequestException"

    def pick_error(self, *candidates: str) -> str:
        """The first of ``candidates`` this operation models (else the last one)."""
        for code in candidates:
            if code in self.errors:
                return code
        return candidates[-1]

    def bind(
        self,
        body: Mapping[str, Any],
        match_info: Mapping[str, str],
        query: Any,
    ) -> dict[str, Any]:
        """Merge body, path and query members into one input dict keyed by member name.

        ``query`` is a multidict (``getall``/``get``). Raises :class:`Violation` on a query
        value that cannot be converted to the member's type.
        """
        params = {k: v for k, v in body.items() if k in self.body_members}
        for member, placeholder in self.uri_members:
            params[member] = match_info[placeholder]
        for q in self.query_members:
            if q.wire_name not in query:
                continue
            if q.is_list:
                params[q.member] = [_convert(q, v, q.item_type) for v in query.getall(q.wire_name)]
            else:
                params[q.member] = _convert(q, query.get(q.wire_name), q.shape_type)
        return params


def _convert(q: QueryMember, raw: str, shape_type: str) -> Any:
    if shape_type in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            v = Violation("type", "Member must be an integer")
            v.path.append(q.member)
            raise v from None
    if shape_type == "boolean":
        return raw == "true"
    return raw


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    operations: Mapping[str, OperationSpec]
    error_status: Mapping[str, int]


@cache
@cache
def model_source() -> dict[str, Any]:
    """Which Connect model the emulator serves: the installed botocore's (GET /_emulator/world)."""
    import botocore

    _, base = Loader().load_data_with_path(f"{SERVICE}/{API_VERSION}/service-2")
    path = next(iter(sorted(Path(base).parent.glob("service-2.json*"))), Path(base))
    return {
        "botocore": botocore.__version__,
        "service": SERVICE,
        "api_version": API_VERSION,
        "path": str(path),
        "operations": list(OPERATIONS),
    }


def load_service_spec() -> ServiceSpec:
    """Read the installed Connect model once and compile every served operation."""
    model = Loader().load_service_model(SERVICE, "service-2", API_VERSION)
    shapes: Mapping[str, Mapping[str, Any]] = model["shapes"]
    compiler = ShapeCompiler(shapes)
    error_status = {
        name: int(shape.get("error", {}).get("httpStatusCode", 400))
        for name, shape in shapes.items()
        if shape.get("exception")
    }
    operations = {
        name: _operation(name, model["operations"][name], shapes, compiler) for name in OPERATIONS
    }
    return ServiceSpec(operations=operations, error_status=error_status)


def _operation(
    name: str,
    op: Mapping[str, Any],
    shapes: Mapping[str, Mapping[str, Any]],
    compiler: ShapeCompiler,
) -> OperationSpec:
    input_name = op["input"]["shape"]
    members: Mapping[str, Mapping[str, Any]] = shapes[input_name].get("members", {})
    uri: list[tuple[str, str]] = []
    query: list[QueryMember] = []
    body: set[str] = set()
    for member, spec in members.items():
        location = spec.get("location")
        shape = shapes[spec["shape"]]
        if location == "uri":
            uri.append((member, spec.get("locationName", member)))
        elif location == "querystring":
            item_type = shape["type"]
            if shape["type"] == "list":
                item_type = shapes[shape["member"]["shape"]]["type"]
            query.append(
                QueryMember(
                    member=member,
                    wire_name=spec.get("locationName", member),
                    shape_type=shape["type"],
                    is_list=shape["type"] == "list",
                    item_type=item_type,
                )
            )
        elif location is None:
            body.add(member)
    path = op["http"]["requestUri"].split("?", 1)[0]
    # botocore's greedy label {Name+} becomes an aiohttp regex placeholder.
    for _member, placeholder in uri:
        path = path.replace("{" + placeholder + "+}", "{" + placeholder + ":.+}")
    return OperationSpec(
        name=name,
        method=op["http"]["method"],
        path=path,
        uri_members=tuple(uri),
        query_members=tuple(query),
        body_members=frozenset(body),
        errors=frozenset(e["shape"] for e in op.get("errors", ())),
        check=compiler.compile(input_name),
    )
