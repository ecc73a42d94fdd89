"""The operation of a run: what one row becomes at the API.

Every per-row command (``run``, ``contacts update|transfer|stop``) is the same engine: rows are
staged in a ledger by identity, read back, sent through the pacer, the retry loop and the quota
gate, recorded, and written to the result files. What differs is the :class:`Operation`:

- ``api`` / ``method``: the Connect API and the SDK client's method;
- ``rate`` / ``burst``: that API's default quota (the account's per-API token bucket; see
  docs/architecture.md "Operations"), used unless ``--rate/--burst`` are given;
- ``client_token``: whether the request carries the row's deterministic ClientToken;
- :meth:`Operation.classify`: how an error of this API is sorted (retry, row failure, fatal);
- :meth:`Operation.call`: the request (one API call by default; verify makes two reads,
  DescribeContact and ListContactReferences, under one pacing token: they draw on two
  separate quota buckets, so pacing the pair at one API's rate keeps both under theirs);
- :meth:`Operation.judge`: what an answer means for the row (succeeded with its contact id by
  default; verify compares it with what the row asked for and fails a mismatch).

How a row becomes the request's parameters is the engine's part that reads the rows: the import
maps and checks them against their template (``run/prepare``), the contact operations take a
``contact_id`` and their own columns (``run/contact_ops``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from taskloader.connect.retry import Classification, ErrorKind, classify
from taskloader.ledger.store import RowStatus


@dataclass(frozen=True, slots=True)
class Operation:
    """One Connect API called once per row. Subclasses refine :meth:`classify`."""

    name: str  # the command's word: "import", "update", "transfer", "stop"
    api: str  # "StartTaskContact"
    method: str  # the client's method: "start_task_contact"
    rate: float  # the API's default quota, requests per second ...
    burst: int  # ... and its burst
    client_token: bool  # requests carry the row's ClientToken
    #: error codes that mean the row's goal already holds; after an attempt whose answer was
    #: lost (this run's, or an earlier run's in-doubt mark) such an answer is the row's success
    settled_by: frozenset[str] = frozenset()

    def classify(self, exc: BaseException) -> Classification | None:
        """Sort an error of this API (the shared rules of :func:`connect.retry.classify`)."""
        return classify(exc)

    async def call(self, client: Any, params: dict[str, Any]) -> Any:
        """One attempt of the row's request (``params`` include InstanceId, ClientToken)."""
        return await getattr(client, self.method)(**params)

    def judge(self, response: Mapping[str, Any], key: str | None) -> tuple[RowStatus, Any]:
        """(status, ledger fields) of an answered row: the contact a success is about is the
        response's ContactId, else the row's key (the contact operations)."""
        found = response.get("ContactId")
        return RowStatus.SUCCEEDED, {"contact_id": str(found) if found else key}

    def contact_of(self, key: str | None) -> str | None:
        """The contact a row is about before any answer: none for an import (its task does not
        exist yet); the row's key, its contact id, for an operation on an existing contact."""
        return None


#: StartTaskContact: 2/s, burst 5 (the Connect API default; it is not among the exceptions).
START_TASK = Operation(
    "import", "StartTaskContact", "start_task_contact", 2.0, 5, client_token=True
)

#: Error codes that mean "this contact has ended" for operations on an existing contact.
_ENDED_CODES = frozenset({"ContactNotFoundException", "InvalidRequestException"})
_ENDED_WORDS = ("not active", "only active", "no longer active", "not available", "ended")


@dataclass(frozen=True, slots=True)
class ContactOperation(Operation):
    """An operation on an existing contact (its row's key is the ``contact_id``).

    A contact that is no longer active is a row failure with code ``contact_not_active``, never
    retried; ``quota_is_row`` turns ServiceQuotaExceededException into a row failure too
    (TransferContact's 11 transfers per contact: no waiting drains it).
    """

    quota_is_row: bool = False

    def contact_of(self, key: str | None) -> str | None:
        return key

    def classify(self, exc: BaseException) -> Classification | None:
        found = classify(exc)
        if found is None:
            return None
        message = found.message.lower()
        if found.code in _ENDED_CODES and any(w in message for w in _ENDED_WORDS):
            return replace(
                found,
                kind=ErrorKind.PERMANENT,
                code="contact_not_active",
                message=f"the contact is no longer active ({found.code}: {found.message})",
            )
        if self.quota_is_row and found.kind is ErrorKind.QUOTA_PAUSE:
            return replace(found, kind=ErrorKind.PERMANENT)
        return found
