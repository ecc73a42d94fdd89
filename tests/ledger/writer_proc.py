"""A ledger writer for the crash tests: commits batches forever, printing each committed batch.

Usage: python writer_proc.py LEDGER BATCH_SIZE. Batch b inserts rows b*B+1 .. (b+1)*B as
pending and, in the same transaction, marks the previous batch's rows succeeded.
"""

from __future__ import annotations

import sys

from taskloader.ledger.store import Ledger, RowOutcome, RowStatus


def row(number: int) -> dict[str, str]:
    return {"key": f"k{number}", "payload": "x" * (number % 97)}


def main() -> None:
    path, size = sys.argv[1], int(sys.argv[2])
    ledger = Ledger.open(path, batch_id="crash", input_name="in", fingerprint=None, columns=[])
    for b in range(100_000):
        new = [
            RowOutcome(n, n + 1, f"k{n}", f"t{n}", RowStatus.PENDING, raw=row(n))
            for n in range(b * size + 1, (b + 1) * size + 1)
        ]
        done = [
            RowOutcome(n, n + 1, f"k{n}", f"t{n}", RowStatus.SUCCEEDED, contact_id=f"c{n}")
            for n in range((b - 1) * size + 1, b * size + 1)
            if b > 0
        ]
        ledger.record(done + new)
        print(b, flush=True)


if __name__ == "__main__":
    main()
