"""The two statements that write rows: an outcome of the send pass, and a row of the pre-flight.

Both address a row by its identity (``records.ident``, its key), so a row is found wherever it
now stands in an edited input.
"""

from __future__ import annotations

from taskloader.ledger.schema import RowStatus

_COLUMNS = (
    "ident, number, line, key, token, status, contact_id, error_code, error_message, "
    "attempts, first_attempt_at, last_attempt_at, raw, pass"
)

#: A row marked ``in_doubt`` (:data:`IN_DOUBT`) was being sent when the run ended: its request
#: may have been carried out, so it is kept like a row with attempts.
IN_DOUBT = "in_doubt"
MARK_IN_DOUBT = f"""
UPDATE records SET error_code = '{IN_DOUBT}', last_attempt_at = ?
WHERE ident = ? AND status IN ('pending', 'unprocessed')
"""

#: An outcome of the send pass. A ``succeeded`` row never changes again.
UPSERT = f"""
INSERT INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ident) DO UPDATE SET
    number = excluded.number,
    line = excluded.line,
    key = coalesce(excluded.key, records.key),
    token = coalesce(records.token, excluded.token),
    status = excluded.status,
    contact_id = excluded.contact_id,
    error_code = CASE WHEN excluded.status = 'unprocessed' AND records.error_code = '{IN_DOUBT}'
                      THEN records.error_code ELSE excluded.error_code END,
    error_message = excluded.error_message,
    attempts = records.attempts + excluded.attempts,
    first_attempt_at = coalesce(records.first_attempt_at, excluded.first_attempt_at),
    last_attempt_at = coalesce(excluded.last_attempt_at, records.last_attempt_at),
    raw = coalesce(records.raw, excluded.raw),
    pass = excluded.pass
WHERE records.status <> '{RowStatus.SUCCEEDED.value}'
"""

#: A row as the pre-flight pass found it. Its place (number, line, pass) is always updated. A
#: row that was sent keeps its status (a failed one waits for ``--redrive-failed``). The row's
#: content is kept only where a task may exist: a resend of a row whose outcome is unknown must
#: be the same request; a failed row created nothing, so a corrected row is what a redrive sends.
_SENT = f"(records.attempts > 0 OR records.error_code = '{IN_DOUBT}')"
_KEEP_STATUS = f"records.status IN ('succeeded', 'failed') OR {_SENT}"
_KEEP_ROW = f"records.status = 'succeeded' OR (records.status <> 'failed' AND {_SENT})"
STAGE = f"""
INSERT INTO records (ident, number, line, key, token, status, error_code, error_message, raw,
                     pass)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ident) DO UPDATE SET
    number = excluded.number,
    line = excluded.line,
    pass = excluded.pass,
    token = coalesce(records.token, excluded.token),
    status = CASE WHEN {_KEEP_STATUS} THEN records.status ELSE excluded.status END,
    error_code = CASE WHEN {_KEEP_STATUS} THEN records.error_code ELSE excluded.error_code END,
    error_message = CASE WHEN {_KEEP_STATUS} THEN records.error_message
                         ELSE excluded.error_message END,
    raw = CASE WHEN {_KEEP_ROW} THEN records.raw ELSE excluded.raw END
"""
