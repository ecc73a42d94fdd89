"""StartTaskContact ``Attachments`` beyond what the model's shapes check.

The generic validator (:mod:`taskloader.emulator.validate`) already holds the list to the model:
1 to 5 entries, ``FileName`` and ``S3Url`` required, their lengths. Here: the file name pattern
``^\\P{C}*$`` (Python's ``re`` has no ``\\P{C}``: checked by Unicode category), the URL, which
must be an http(s) URL Connect can fetch the file from (https in AWS; tests presign against a
local plain-HTTP S3), and a presigned URL's expiry: SigV4 (``X-Amz-Date`` + ``X-Amz-Expires``)
or SigV2 (``Expires``, epoch seconds), checked against the emulator's clock. Messages never
echo a URL (it is a credential).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from taskloader.emulator.apierror import ApiError
from taskloader.emulator.validate import Violation

FILE_NAME_PATTERN = "^\\P{C}*$"


def _name_violation(index: int) -> Violation:
    v = Violation(
        "constraint", f"Member must satisfy regular expression pattern: {FILE_NAME_PATTERN}"
    )
    v.path += ["FileName", f"[{index}]", "Attachments"]
    return v


def _expiry(query: dict[str, list[str]]) -> float | None:
    """When a presigned URL stops working (epoch seconds); None if it carries no expiry.
    ValueError for an expiry that cannot be read."""
    if "X-Amz-Expires" in query:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return signed.timestamp() + int(query["X-Amz-Expires"][0])
    if "Expires" in query:
        return float(int(query["Expires"][0]))
    return None


def check_attachments(items: list[dict[str, Any]] | None, now: float) -> list[dict[str, str]]:
    """The attachments to store, as sent; raises for a bad name, URL or an expired URL."""
    out: list[dict[str, str]] = []
    for i, item in enumerate(items or ()):
        name, url = item["FileName"], item["S3Url"]
        if any(unicodedata.category(c)[0] == "C" for c in name):
            raise _name_violation(i)
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ApiError(
                "InvalidParameterException",
                f"Attachments[{i}].S3Url must be a presigned URL of the S3 object.",
            )
        try:
            expires = _expiry(parse_qs(parts.query))
        except (KeyError, ValueError, OverflowError):
            raise ApiError(
                "InvalidParameterException",
                f"Attachments[{i}].S3Url has an unreadable X-Amz-Date or X-Amz-Expires.",
            ) from None
        if expires is not None and now > expires:
            raise ApiError(
                "InvalidRequestException",
                f"Attachments[{i}].S3Url: the presigned URL has expired; presign it again.",
            )
        out.append({"FileName": name, "S3Url": url})
    return out


def reference_summary(attachment: dict[str, str]) -> dict[str, Any]:
    """An ATTACHMENT ReferenceSummary: the file name, and where it came from without the
    presigned query (the signature)."""
    parts = urlsplit(attachment["S3Url"])
    location = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return {"Attachment": {"Name": attachment["FileName"], "Value": location, "Status": "APPROVED"}}
