"""Task attachments of a row -> StartTaskContact ``Attachments``, checked, URLs as written.

The input contract (public, see the README's input table):

- CSV: a column ``attachment.<file name>`` per file; its cell is an ``s3://bucket/key`` URL or an
  ``https://`` URL; an empty cell means the row has no such attachment.
- JSONL: an ``attachments`` list of ``{"file_name": ..., "url": ...}`` objects, or the flat
  ``attachment.<file name>`` keys (both may be used; the list comes after the columns).

The request carries the URLs as written: an ``s3://`` URL is presigned only when the row is sent
(:mod:`taskloader.run.attachments`), so a URL never expires while a long run waits, and the
ledger, which keeps the row as read, holds the file names and S3 locations, never a presigned URL.

The limits come from botocore's Connect model (``TaskAttachments``, ``FileName``,
``PreSignedAttachmentUrl``); the file name pattern ``^\\P{C}*$`` (no Unicode "other" characters:
controls, format characters, surrogates, private use, unassigned) is checked by category, as
Python's ``re`` has no ``\\P{C}``. Messages never echo a URL or a value.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from taskloader.errors import UsageError
from taskloader.mapping.rules import Code, Problem
from taskloader.storage.s3 import S3Url

__all__ = [
    "ATTACHMENTS_KEY",
    "ATTACHMENT_PREFIX",
    "AttachmentLimits",
    "attachment_limits",
    "collect",
    "s3_attachments",
]

ATTACHMENT_PREFIX = "attachment."
ATTACHMENTS_KEY = "attachments"
_S3 = "s3://"
_HTTPS = "https://"


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """``Attachments`` limits from the model: how many, file name lengths, URL length."""

    max_count: int
    name_min: int
    name_max: int
    url_max: int


@functools.cache
def attachment_limits() -> AttachmentLimits:
    from botocore.loaders import Loader

    model = Loader().load_service_model("connect", "service-2")
    shapes = model["shapes"]
    request = shapes[model["operations"]["StartTaskContact"]["input"]["shape"]]
    listing = shapes[request["members"]["Attachments"]["shape"]]
    item = shapes[listing["member"]["shape"]]["members"]
    name = shapes[item["FileName"]["shape"]]
    url = shapes[item["S3Url"]["shape"]]
    return AttachmentLimits(
        max_count=int(listing["max"]),
        name_min=int(name.get("min", 1)),
        name_max=int(name["max"]),
        url_max=int(url["max"]),
    )


def _name_problem(name: str, label: str, limits: AttachmentLimits) -> Problem | None:
    if not limits.name_min <= len(name) <= limits.name_max:
        text = f"the file name must be {limits.name_min} to {limits.name_max} characters"
        return Problem(Code.INVALID_ATTACHMENT_NAME, label, text)
    if not name.isprintable() and any(unicodedata.category(c)[0] == "C" for c in name):
        text = "the file name must not hold control, format or unassigned characters"
        return Problem(Code.INVALID_ATTACHMENT_NAME, label, text)
    return None


def _url_problem(url: str, label: str, limits: AttachmentLimits) -> Problem | None:
    def bad(text: str) -> Problem:
        return Problem(Code.INVALID_ATTACHMENT_URL, label, text)

    if url.startswith(_S3):
        try:
            location = S3Url.parse(url)
        except UsageError:
            return bad("not a valid S3 URL (s3://bucket/key with a valid bucket name)")
        if location.is_prefix:
            return bad("the S3 URL must name an object, not a bucket or a prefix")
        return None
    if url[: len(_HTTPS)].lower() == _HTTPS:
        if not urlsplit(url).netloc or any(c.isspace() for c in url):
            return bad("not a valid https:// URL (a host and no blanks)")
        if len(url) > limits.url_max:
            return bad(f"the URL is longer than {limits.url_max} characters")
        return None
    return bad("must be an s3://bucket/key or an https:// URL")


def _check(
    name: str, url: Any, label: str, limits: AttachmentLimits, problems: list[Problem]
) -> dict[str, str] | None:
    problem = _name_problem(name, label, limits)
    if problem is None:
        if not isinstance(url, str):
            problem = Problem(Code.INVALID_ATTACHMENT_URL, label, "the URL must be text")
        else:
            problem = _url_problem(url.strip(), label, limits)
    if problem is not None:
        problems.append(problem)
        return None
    return {"FileName": name, "S3Url": url.strip()}


def _from_list(
    value: Any, label: str, limits: AttachmentLimits, problems: list[Problem]
) -> list[dict[str, str] | None]:
    if not isinstance(value, list):
        text = 'must be a list of {"file_name": ..., "url": ...} objects'
        problems.append(Problem(Code.INVALID_VALUE, label, text))
        return []
    out: list[dict[str, str] | None] = []
    for i, item in enumerate(value):
        where = f"{label}[{i}]"
        if (
            not isinstance(item, dict)
            or set(item) != {"file_name", "url"}
            or not isinstance(item["file_name"], str)
        ):
            text = 'must be an object {"file_name": text, "url": text} and nothing else'
            problems.append(Problem(Code.INVALID_VALUE, where, text))
            out.append(None)
            continue
        out.append(_check(item["file_name"], item["url"], where, limits, problems))
    return out


def collect(
    values: Mapping[str, Any],
    columns: Sequence[tuple[str, str]],
    list_column: str | None,
) -> tuple[list[dict[str, str]], list[Problem]]:
    """The row's ``Attachments`` (URLs as written) and the problems found.

    ``columns`` are (column, file name) of the ``attachment.<file name>`` columns; ``list_column``
    the column holding a JSONL ``attachments`` list, if any.
    """
    limits = attachment_limits()
    problems: list[Problem] = []
    found: list[dict[str, str] | None] = []
    for column, name in columns:
        cell = values.get(column)
        if cell is None or cell == "":
            continue
        found.append(_check(name, cell, column, limits, problems))
    if list_column is not None and values.get(list_column) is not None:
        found += _from_list(values[list_column], list_column, limits, problems)
    if len(found) > limits.max_count:
        text = f"{len(found)} attachments; a task takes at most {limits.max_count}"
        problems.append(Problem(Code.TOO_MANY_ATTACHMENTS, ATTACHMENTS_KEY, text))
    names = [a["FileName"] for a in found if a is not None]
    for name in sorted({n for n in names if names.count(n) > 1}):
        text = f"the file name {name!r} is given twice: the task would hold two files of one name"
        problems.append(Problem(Code.INVALID_ATTACHMENT_NAME, f"attachment.{name}", text))
    return [a for a in found if a is not None], problems


def s3_attachments(params: Mapping[str, Any]) -> list[tuple[int, S3Url]]:
    """(index, location) of each ``Attachments`` entry of ``params`` that is an ``s3://`` URL."""
    return [
        (i, S3Url.parse(a["S3Url"]))
        for i, a in enumerate(params.get("Attachments") or ())
        if a["S3Url"].startswith(_S3)
    ]
