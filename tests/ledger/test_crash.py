"""Crash safety and live reading with real processes: SIGKILL mid-write, reader mid-batch."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloader.ledger.store import Ledger, RowOutcome, RowStatus

from .conftest import OpenLedger, outcome
from .writer_proc import row

WRITER = Path(__file__).with_name("writer_proc.py")
BATCH = 200


@pytest.mark.parametrize("attempt", range(3))
def test_sigkill_at_a_random_moment_loses_no_committed_batch(tmp_path: Path, attempt: int) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    path = tmp_path / "crash.ledger"
    reported: list[int] = []
    with subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(BATCH)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        target = rng.randint(3, 30)
        for line in proc.stdout:
            reported.append(int(line))
            if len(reported) >= target:
                break
        time.sleep(rng.uniform(0, 0.02))  # land anywhere inside a later transaction
        os.kill(proc.pid, signal.SIGKILL)
        reported += [int(line) for line in proc.stdout]  # printed before it died
        assert proc.wait() == -signal.SIGKILL
    last = reported[-1]

    with Ledger.open(path, batch_id=None, input_name="in", fingerprint=None, columns=[]) as led:
        check = sqlite3.connect(path)
        try:
            assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            check.close()
        records = list(led.iter_records())
        total = len(records)
        msg = f"seed {seed}: {total} rows, last reported batch {last}"
        # Whole batches only, at least every reported one, at most one committed unreported.
        assert total % BATCH == 0, msg
        batches = total // BATCH
        assert last + 1 <= batches <= last + 2, msg
        assert [r.number for r in records] == list(range(1, total + 1)), msg
        for r in records:
            expected = (
                RowStatus.PENDING if r.number > (batches - 1) * BATCH else RowStatus.SUCCEEDED
            )
            assert r.status is expected, msg
            assert r.raw == row(r.number), msg
            assert r.token == f"t{r.number}", msg
        # Resume: the non-terminal rows are exactly the last batch, with their stored tokens.
        left = led.to_send(0, limit=total)
        assert [t.number for t in left] == list(range(total - BATCH + 1, total + 1)), msg
        assert all(t.token == f"t{t.number}" for t in left), msg
        led.record([RowOutcome(total + 1, total + 2, "new", "t-new", RowStatus.PENDING)])


def _summary_in_subprocess(path: Path) -> dict[str, int]:
    proc = subprocess.run(
        [sys.executable, "-m", "taskloader", "ledger", "summary", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    counts: dict[str, int] = json.loads(proc.stdout)["counts"]
    return counts


def test_another_process_reads_committed_counts_while_a_batch_is_open(
    open_ledger: OpenLedger,
) -> None:
    ledger = open_ledger()
    ledger.record([outcome(n, "succeeded", contact_id=f"c{n}") for n in range(1, 11)])
    seen_mid_transaction: list[dict[str, int]] = []

    def batch() -> Iterator[RowOutcome]:
        for n in range(11, 31):
            if n == 21:  # ten rows of this batch are written but not committed
                seen_mid_transaction.append(_summary_in_subprocess(ledger.path))
            yield outcome(n, "failed", error_code="X")

    ledger.record(batch())
    assert seen_mid_transaction == [
        {"pending": 0, "succeeded": 10, "failed": 0, "invalid": 0, "unprocessed": 0}
    ]
    assert _summary_in_subprocess(ledger.path)["failed"] == 20
