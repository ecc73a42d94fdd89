"""Result files from the ledger: ``succeeded.csv``, ``failed.csv``, ``invalid.csv``,
``unprocessed.csv`` and ``summary.json``, plus ad-hoc exports (``taskloader ledger export``).

Names, per import. The files are named after the ledger, so two imports writing to one folder
never overwrite each other's: the ledger ``callbacks.ledger.sqlite`` (or ``callbacks.sqlite``,
``callbacks.db``) gives ``callbacks.succeeded.csv`` ... ``callbacks.summary.json``; a ledger
called ``ledger.sqlite`` (the default, alone in its folder) gives the plain names. If the
folder already holds a ``summary.json`` of that name from another batch (two ledgers of one
name writing to one ``--out-dir``), the batch id's first 12 characters are added
(``callbacks.<batch>.succeeded.csv``) and a warning logged.

Everything streams from the ledger in input order (memory stays flat on millions of rows) and
every file is written to a temporary name and renamed into place, so a reader never sees half a
file and a crash leaves the previous version.

Columns: ``succeeded``, ``failed`` and ``invalid`` (and CSV exports) are the input's columns, then
``row`` and ``line``, then ``taskloader.status``, ``taskloader.error_code``,
``taskloader.message`` (each problem as ``<field>: <message>``, ``; ``-joined),
``taskloader.contact_id`` and ``taskloader.attempts`` (see :mod:`taskloader.mapping.outcome`);
JSONL exports are the input's keys and those keys in one object per row.

Spreadsheet formulas: a cell starting with ``= + - @``, a tab or a CR is prefixed with ``'`` in
the report files (succeeded, failed, invalid, CSV exports). ``unprocessed.csv`` is the exception:
it is an *input* for the next run, and prefixing would corrupt values such as E.164 phone numbers
(``+4420...``) or negative numbers when they are sent again. Its cells are the original values.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import structlog

from taskloader.ledger.atomic import atomic_text
from taskloader.ledger.reader import LedgerReader
from taskloader.ledger.records import LedgerRecord
from taskloader.ledger.schema import RowStatus
from taskloader.mapping.outcome import BATCH_FIELD, Outcome, input_columns, outcome_header

__all__ = [
    "RESULT_KINDS",
    "ResultFiles",
    "RunStats",
    "export_records",
    "neutralise",
    "outcome_row",
    "result_names",
    "write_results",
]

log = structlog.get_logger(__name__)

RESULT_KINDS = ("succeeded", "failed", "invalid", "unprocessed")
_LEDGER_SUFFIXES = (".sqlite3", ".sqlite", ".db")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class RunStats:
    """Run figures the pipeline hands over for ``summary.json``."""

    duration_s: float = 0.0
    achieved_rate: float = 0.0  # requests per second over the run
    throttles: int = 0
    retries: int = 0
    latency_ms: Mapping[str, float] = field(default_factory=dict)  # e.g. {"p50": .., "p99": ..}


@dataclass(frozen=True, slots=True)
class ResultFiles:
    succeeded: Path
    failed: Path
    invalid: Path
    unprocessed: Path | None  # None: too many rows left to list at a stop (see write_results)
    summary: Path
    counts: Mapping[str, int]


_DONE = ("succeeded", "failed", "invalid")


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with a single quote."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def write_results(
    ledger: LedgerReader,
    out_dir: str | os.PathLike[str],
    *,
    stats: RunStats | Mapping[str, Any] | None = None,
    list_left: bool = True,
) -> ResultFiles:
    """Write the four CSV result files and ``summary.json`` into ``out_dir``, in input order.

    ``pending`` rows go to ``unprocessed.csv`` too: at the end of a run any row not terminal
    was not finished, and feeding that file back in (same columns) resumes it. With
    ``list_left=False`` (a run stopping with a million rows left must exit within its grace
    period) ``unprocessed.csv`` is not written: the summary counts those rows and names the
    command that lists them.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verbatim = original_columns(ledger)  # unprocessed.csv: the input as it was, to feed back
    columns = input_columns(verbatim)
    names = _names_for(ledger, out)
    paths = {kind: out / names[kind] for kind in RESULT_KINDS}
    # A JSONL input's rows left are written as JSONL: fed back, each value keeps its JSON type,
    # so each row keeps its content key (and ClientToken) as the input gave it.
    jsonl = not ledger.columns
    if jsonl:
        paths["unprocessed"] = paths["unprocessed"].with_suffix(".jsonl")
    left = paths["unprocessed"] if list_left else None
    if left is None:  # an earlier run's list would be stale now
        paths.pop("unprocessed").unlink(missing_ok=True)
    header = outcome_header(columns)
    batch = ledger.batch_id
    # unprocessed.csv: the input's columns as they were, and the batch its rows belong to (fed
    # back, they are sent in that batch: see mapping.outcome)
    verbatim = [c for c in verbatim if c != BATCH_FIELD]
    with contextlib.ExitStack() as stack:
        ok = _CsvOut(stack.enter_context(atomic_text(paths["succeeded"])), header)
        failed = _CsvOut(stack.enter_context(atomic_text(paths["failed"])), header)
        invalid = _CsvOut(stack.enter_context(atomic_text(paths["invalid"])), header)
        todo: _CsvOut | _JsonlOut | None = None
        if left is not None and jsonl:
            todo = _JsonlOut(stack.enter_context(atomic_text(left)), batch)
        elif left is not None:
            todo = _CsvOut(
                stack.enter_context(atomic_text(left)), [*verbatim, BATCH_FIELD], safe=False
            )
        outs = {RowStatus.SUCCEEDED: ok, RowStatus.FAILED: failed, RowStatus.INVALID: invalid}
        counts = {s.value: 0 for s in RowStatus}
        if not list_left:
            counts.update(ledger.counts())
        for rec in ledger.iter_records(None if list_left else _DONE):
            if list_left:
                counts[rec.status.value] += 1
            target = outs.get(rec.status)
            if target is not None:
                target.write(outcome_row(rec, columns, batch))
            elif isinstance(todo, _JsonlOut):
                todo.write(rec)
            elif todo is not None:
                todo.write([*_row_cells(rec, verbatim), batch])
    summary = out / names["summary"]
    document = {
        "batch_id": ledger.batch_id,
        "input": ledger.input_name,
        "ledger": str(ledger.path),
        "generated_at": datetime.now(UTC).isoformat(),
        "total": sum(counts.values()),
        "counts": counts,
        "stats": _stats_dict(stats),
        "files": {name: p.name for name, p in paths.items()},
    }
    if left is None:
        document["unprocessed_rows"] = (
            f"not listed at the stop: `taskloader ledger export {ledger.path} --status pending "
            f"--status unprocessed --out {names['unprocessed']}` lists them"
        )
    with atomic_text(summary) as f:
        f.write(_finite_json(document, indent=2))
        f.write("\n")
    return ResultFiles(
        succeeded=paths["succeeded"],
        failed=paths["failed"],
        invalid=paths["invalid"],
        unprocessed=left,
        summary=summary,
        counts=counts,
    )


def export_records(
    ledger: LedgerReader,
    statuses: Iterable[RowStatus | str],
    out: str | os.PathLike[str] | IO[str],
    fmt: str | None = None,
) -> int:
    """Export the records with ``statuses`` to ``out`` (``.csv``, or ``.jsonl``/``.ndjson``).

    CSV: the outcome shape (the input's columns, ``row``, ``line``, the ``taskloader.`` columns),
    formulas neutralised. JSONL: one object per record, the input's keys and then the same.
    ``out`` may be an open text stream (``--out -``); ``fmt`` then names the format.
    Returns the number of records written.
    """
    suffix = f".{fmt}" if fmt else Path(str(out)).suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise ValueError(f"{out}: export format must be .csv, .jsonl or .ndjson")
    wanted = [RowStatus(s) for s in statuses]
    columns = input_columns(original_columns(ledger))
    with _target(out) as f:
        if suffix == ".csv":
            return _export_csv(ledger, wanted, columns, f)
        n, keep = 0, set(columns)
        for rec in ledger.iter_records(wanted):
            document = {c: v for c, v in (rec.raw or {}).items() if c in keep}
            document.update(_outcome(rec, ledger.batch_id).fields(rec.number, rec.line, columns))
            f.write(_finite_json(document) + "\n")
            n += 1
        return n


def _export_csv(
    ledger: LedgerReader, wanted: list[RowStatus], columns: list[str], f: IO[str]
) -> int:
    writer = _CsvOut(f, outcome_header(columns))
    n = 0
    for rec in ledger.iter_records(wanted):
        writer.write(outcome_row(rec, columns, ledger.batch_id))
        n += 1
    return n


@contextlib.contextmanager
def _target(out: str | os.PathLike[str] | IO[str]) -> Iterator[IO[str]]:
    if isinstance(out, str | os.PathLike):
        with atomic_text(Path(out)) as f:
            yield f
    else:
        yield out


def _outcome(rec: LedgerRecord, batch_id: str) -> Outcome:
    return Outcome.stored(
        rec.status.value, rec.error_code, rec.error_message, rec.contact_id, rec.attempts,
        batch_id,
    )  # fmt: skip


def outcome_row(rec: LedgerRecord, columns: Sequence[str], batch_id: str = "") -> list[str]:
    """A record's cells in the outcome shape (``batch_id``: the ledger's)."""
    return [*_row_cells(rec, columns), *_outcome(rec, batch_id).cells(rec.number, rec.line)]


def original_columns(ledger: LedgerReader) -> list[str]:
    """The input's columns: the stored CSV header, or for JSONL the union of the rows' keys in
    first-seen order (one extra streaming pass)."""
    stored = ledger.columns
    if stored:
        return list(stored)
    seen: dict[str, None] = {}
    for rec in ledger.iter_records():
        if rec.raw:
            seen.update(dict.fromkeys(rec.raw))
    return list(seen)


def _row_cells(rec: LedgerRecord, columns: Sequence[str]) -> list[str]:
    raw = rec.raw or {}
    return [_cell(raw.get(c)) for c in columns]


def _cell(value: object) -> str:
    """A CSV cell: strings as they are, None empty, anything else (nested JSONL) as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _finite_json(value)


def _finite_json(value: Any, *, indent: int | None = None) -> str:
    """JSON text, also for values Python's json would write as ``Infinity`` or ``NaN`` (not
    JSON): an infinite float (a JSONL ``1e400``) is written ``1e400`` / ``-1e400`` (read back
    as the same value), NaN as ``null``."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False, indent=indent)
    except ValueError:
        pass
    mark = uuid.uuid4().hex
    numbers = {f"{mark}+": "1e400", f"{mark}-": "-1e400", f"{mark}n": "null"}

    def finite(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return f"{mark}n" if math.isnan(v) else f"{mark}{'+' if v > 0 else '-'}"
        if isinstance(v, Mapping):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [finite(x) for x in v]
        return v

    text = json.dumps(finite(value), ensure_ascii=False, default=str, indent=indent)
    for placeholder, number in numbers.items():
        text = text.replace(f'"{placeholder}"', number)
    return text


def result_names(ledger_path: Path, batch_id: str | None = None) -> dict[str, str]:
    """File names of the result files of the ledger at ``ledger_path`` (kind -> name)."""
    stem = ledger_path.name
    for suffix in _LEDGER_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removesuffix(".ledger")
    prefix = "" if stem in ("", "ledger") else f"{stem}."
    if batch_id:
        prefix += f"{batch_id[:12]}."
    names = {kind: f"{prefix}{kind}.csv" for kind in RESULT_KINDS}
    names["summary"] = f"{prefix}summary.json"
    return names


def _names_for(ledger: LedgerReader, out: Path) -> dict[str, str]:
    """This import's names in ``out``: another batch's files of the same name are kept."""
    names = result_names(ledger.path)
    try:
        existing = json.loads((out / names["summary"]).read_text(encoding="utf-8"))
        other = existing.get("batch_id")
    except (OSError, ValueError, AttributeError):
        return names
    if other in (None, ledger.batch_id):
        return names
    renamed = result_names(ledger.path, ledger.batch_id)
    log.warning("results.renamed", other_batch=other, summary=renamed["summary"])
    return renamed


class _CsvOut:
    def __init__(self, f: IO[str], header: Sequence[str], *, safe: bool = True) -> None:
        self._writer = csv.writer(f)
        self._safe = safe
        self.write(header)

    def write(self, cells: Sequence[str]) -> None:
        self._writer.writerow([neutralise(c) for c in cells] if self._safe else cells)


class _JsonlOut:
    """The rows left of a JSONL input: each as read (its values' JSON types kept), and the
    batch it belongs to."""

    def __init__(self, f: IO[str], batch_id: str) -> None:
        self._f = f
        self._batch = batch_id

    def write(self, rec: LedgerRecord) -> None:
        document = {k: v for k, v in (rec.raw or {}).items() if k != BATCH_FIELD}
        document[BATCH_FIELD] = self._batch
        self._f.write(_finite_json(document) + "\n")


def _stats_dict(stats: RunStats | Mapping[str, Any] | None) -> dict[str, Any]:
    if stats is None:
        return {}
    if isinstance(stats, RunStats):
        values = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in values.items()}
    return dict(stats)
