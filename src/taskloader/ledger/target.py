"""What a ledger belongs to: one Amazon Connect target and one input.

A ledger records which rows became which tasks *in one instance*. Reused against another
instance, Region or endpoint it would skip every row as done and create nothing there, so
:func:`check_target` refuses that. The input check tells "this ledger belongs to another input"
(another file name and other content) apart from "the input changed" (same name, other content).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from taskloader.errors import LedgerMismatchError, LedgerOtherInputError, LedgerTargetError

__all__ = ["LedgerTarget", "check_input", "check_target"]

_META_KEY = "target"


@dataclass(frozen=True, slots=True)
class LedgerTarget:
    """The Amazon Connect target of a run.

    ``endpoint`` is ``None`` for AWS's own endpoint (no ``--endpoint-url``). ``region`` is
    ``None`` when not known (the SDK's default); an unknown Region is compatible with any.
    ``instance_arn`` is kept when the run was given an ARN (it names the account too).
    """

    instance_id: str
    region: str | None = None
    endpoint: str | None = None
    instance_arn: str | None = None

    def to_meta(self) -> dict[str, str | None]:
        document = {
            "instance_id": self.instance_id,
            "instance_arn": self.instance_arn,
            "region": self.region,
            "endpoint": _clean_endpoint(self.endpoint),
        }
        return {_META_KEY: json.dumps(document, sort_keys=True)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, str | None]) -> LedgerTarget | None:
        raw = meta.get(_META_KEY)
        if not raw:
            return None
        data = json.loads(raw)
        return cls(
            instance_id=str(data["instance_id"]),
            region=data.get("region"),
            endpoint=data.get("endpoint"),
            instance_arn=data.get("instance_arn"),
        )

    def describe(self) -> str:
        where = f"instance {self.instance_arn or self.instance_id}"
        where += f" in Region {self.region or '(SDK default)'}"
        return where + f" via {_clean_endpoint(self.endpoint) or 'the AWS endpoint'}"

    def differs_from(self, other: LedgerTarget) -> bool:
        if self.instance_id != other.instance_id:
            return True
        if _known_and_different(self.instance_arn, other.instance_arn):
            return True
        if _known_and_different(self.region, other.region):
            return True
        return _clean_endpoint(self.endpoint) != _clean_endpoint(other.endpoint)


def check_target(
    path: str, stored: LedgerTarget | None, requested: LedgerTarget | None, *, sent: int = 1
) -> dict[str, str | None]:
    """Meta updates for ``requested``; LedgerTargetError if the ledger belongs elsewhere.

    A ledger without a stored target (an older one) adopts the requested target, and so does
    a ledger in which no task can exist (``sent`` 0: nothing succeeded and no answer was lost,
    as after a run stopped at once by a mistyped instance id): nothing there could be skipped
    as done elsewhere.
    """
    if requested is None:
        return {}
    if stored is None or sent == 0:
        return requested.to_meta()
    if stored.differs_from(requested):
        raise LedgerTargetError(
            path,
            f"it belongs to {stored.describe()}, but this run targets {requested.describe()}. "
            "A ledger records the tasks of one target; reusing it elsewhere would skip rows "
            "as done and create nothing there. Use another --ledger (or --out-dir) for this "
            "target, or point the run back at the ledger's target",
        )
    return requested.to_meta() if requested.to_meta() != stored.to_meta() else {}


def check_input(
    path: str,
    meta: Mapping[str, str | None],
    input_name: str,
    fingerprint: str | None,
    force: bool,
) -> bool:
    """Whether the input changed (and ``force`` accepts it); raises when the run must not go on.

    Another input (another file name *and* other content) is refused even with ``force``:
    the ledger's rows are another file's rows. The same name with other content is an edited
    input; ``force`` resumes it.
    """
    stored_fp = meta.get("fingerprint")
    if fingerprint is None or stored_fp is None or fingerprint == stored_fp:
        return False
    stored_name = meta.get("input_name") or ""
    # Local files are recorded by their absolute path (older ledgers by the name as given):
    # teamA/calls.csv and teamB/calls.csv are two inputs, not one edited
    paths = stored_name.startswith("/") and input_name.startswith("/")
    if _base_name(stored_name) != _base_name(input_name) or (paths and stored_name != input_name):
        raise LedgerOtherInputError(
            path,
            f"it belongs to another input: {stored_name!r} (fingerprint {stored_fp[:12]}...), "
            f"not {input_name!r} (fingerprint {fingerprint[:12]}...). Each input needs its own "
            "ledger: give this one another --ledger (or --out-dir; the default location is "
            "named after the input file). If it is that ledger's file, moved and edited, give "
            f"the new ledger --batch-id {meta.get('batch_id')}: its rows keep their ClientTokens",
        )
    if not force:
        raise LedgerMismatchError(
            path,
            f"the input {input_name!r} changed since this ledger was started "
            f"(fingerprint {fingerprint[:12]}... vs stored {stored_fp[:12]}...). If you edited "
            "it on purpose, rerun with --force to resume with the edited file under the same "
            "batch id; do not start a new ledger for it (that would send every row again)",
        )
    return True


def _base_name(location: str) -> str:
    if location in ("", "-"):
        return location
    return PurePosixPath(location.rstrip("/")).name


def _known_and_different(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a != b


def _clean_endpoint(url: str | None) -> str | None:
    """The endpoint without credentials, query or trailing slash (never stored with secrets)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host.lower(), parts.path.rstrip("/"), "", ""))
