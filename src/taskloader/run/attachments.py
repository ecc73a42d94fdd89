"""Task attachments at the run's edges: presigned when a row is sent, checked by a dry run.

The mapper puts ``Attachments`` in a row's request with the URLs as the input wrote them
(:mod:`taskloader.mapping.attachments`). :meth:`Attachments.presigned` replaces each ``s3://``
URL by a presigned GetObject URL right before a row's first StartTaskContact attempt (the
senders call it after the pacer let the attempt go), so a URL never expires while a long run
waits; the row's retries resend it (run.sender: the same request for its ClientToken). Only
the copy of the parameters sent carries it: the row, the ledger and the logs keep the ``s3://``
location.

With ``--check-attachments`` the dry run HEADs each S3 object once (the answer is kept per URL
for the run) and reports a missing or unreadable one as a row problem.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from taskloader.aws import AwsOptions
from taskloader.mapping.attachments import s3_attachments
from taskloader.mapping.rules import Code, Problem
from taskloader.storage.presign import MISSING, AttachmentStore

__all__ = ["Attachments", "open_attachments"]

_CHECKED_MAX = 100_000  # URLs whose HEAD answer is kept


class Attachments:
    def __init__(self, store: AttachmentStore) -> None:
        self._store = store
        self._checked: dict[str, str | None] = {}

    async def presigned(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with each ``s3://`` attachment URL presigned (a copy; ``params`` as is
        when there is none)."""
        found = s3_attachments(params)
        if not found:
            return params
        store = self._store
        urls = await anyio.to_thread.run_sync(lambda: [store.presign(url) for _, url in found])
        attachments = [dict(a) for a in params["Attachments"]]
        for (i, _), url in zip(found, urls, strict=True):
            attachments[i]["S3Url"] = url
        return {**params, "Attachments": attachments}

    def problems(self, params: Mapping[str, Any]) -> list[Problem]:
        """The S3 objects of ``params`` that are missing or unreadable. Blocking: HEAD requests
        (one per URL not seen before); call from a worker thread."""
        out: list[Problem] = []
        attachments = params.get("Attachments") or ()
        for i, url in s3_attachments(params):
            key = str(url)
            if key not in self._checked:
                if len(self._checked) >= _CHECKED_MAX:
                    self._checked.clear()
                self._checked[key] = self._store.problem(url)
            problem = self._checked[key]
            if problem is None:
                continue
            label = f"attachment.{attachments[i]['FileName']}"
            if problem == MISSING:
                out.append(Problem(Code.ATTACHMENT_NOT_FOUND, label, "no such S3 object"))
            else:
                text = "the S3 object cannot be read (the run needs s3:GetObject on it)"
                out.append(Problem(Code.ATTACHMENT_UNREADABLE, label, text))
        return out


@asynccontextmanager
async def open_attachments(aws: AwsOptions, ttl: int) -> AsyncIterator[Attachments]:
    """The run's attachment handling; its S3 client (if one was made) is closed on exit."""
    store = AttachmentStore(aws, ttl)
    try:
        yield Attachments(store)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(store.close)
