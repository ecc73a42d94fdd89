"""The send pass: the rows left to send, read back from the ledger in input order.

The pre-flight pass staged every row of the input; this feed takes the current pass's
``pending`` and ``unprocessed`` rows, maps each again from its stored row (the template cache
is warm; mapping is microseconds against a 2/s pace) and hands it to the senders with its stored
ClientToken (how a stored row becomes a request is the operation's ``rebuild``: for the
import, :func:`rebuild_import`). When the run is asked to stop it stops reading at once: rows
never reached stay ``pending`` in the ledger, nothing is written for them, and the next run
resumes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import structlog
from anyio.abc import ObjectSendStream

from taskloader.checks.request import check_row
from taskloader.input.readers import Row
from taskloader.ledger.records import ToSend
from taskloader.ledger.store import Ledger, RowOutcome, RowStatus
from taskloader.run.control import RunControl
from taskloader.run.preflight import problems_json
from taskloader.run.prepare import Preparer
from taskloader.run.sender import Work

log = structlog.get_logger(__name__)

CHUNK = 256


#: A stored row -> the work to send, or the outcome it gets without sending.
Rebuild = Callable[[ToSend], Awaitable["Work | RowOutcome"]]


class LedgerFeed:
    def __init__(self, rebuild: Rebuild, ledger: Ledger, control: RunControl):
        self._rebuild = rebuild
        self._ledger = ledger
        self._control = control

    async def produce(
        self, work: ObjectSendStream[Work], outcomes: ObjectSendStream[RowOutcome]
    ) -> None:
        after = 0
        while not self._control.stopped:
            chunk = await anyio.to_thread.run_sync(self._ledger.to_send, after, CHUNK)
            if not chunk:
                return
            for item in chunk:
                if self._control.stopped:
                    return
                after = item.number
                job_or_outcome = await self._rebuild(item)
                if isinstance(job_or_outcome, Work):
                    await work.send(job_or_outcome)
                else:
                    await outcomes.send(job_or_outcome)


async def rebuild_import(preparer: Preparer, source: str, item: ToSend) -> Work | RowOutcome:
    """The import's rebuild: map and check the stored row again (StartTaskContact)."""
    row = Row(source, item.number, item.line, item.raw)
    template = await preparer.template_for(row)
    checked = check_row(row, template, preparer.mapper, preparer.limits)
    key = item.key if item.key is not None else checked.request.key
    token = item.token
    if checked.problems or token is None:
        # Valid at the pre-flight pass, not now (a scheduled time that moved out of range,
        # a template changed in between): the row is reported, not sent.
        return RowOutcome(
            item.number,
            item.line,
            key,
            token,
            RowStatus.INVALID,
            error_code=checked.problems[0].code if checked.problems else "no_token",
            error_message=problems_json(checked.problems),
            ident=item.ident,
        )
    return Work(item.number, item.line, key, token, checked.request.params, item.raw, item.ident)
