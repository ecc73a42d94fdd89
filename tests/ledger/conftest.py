"""Shared helpers: a ledger factory and an outcome builder with sensible defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskloader.ledger.store import Ledger, RowOutcome, RowStatus

COLUMNS = ("key", "name", "phone")


def outcome(number: int, status: RowStatus | str = RowStatus.PENDING, **kw: Any) -> RowOutcome:
    """An outcome for row ``number`` (line = number + 1, as under a CSV header)."""
    fields: dict[str, Any] = {
        "line": number + 1,
        "key": f"k{number}",
        "token": f"tok-{number}",
        "raw": {"key": f"k{number}", "name": f"name {number}", "phone": f"+1555{number:04d}"},
    }
    fields.update(kw)
    return RowOutcome(number=number, status=RowStatus(status), **fields)


OpenLedger = Callable[..., Ledger]


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "run.ledger"


@pytest.fixture
def open_ledger(ledger_path: Path) -> Iterator[OpenLedger]:
    """Open (or reopen) the test ledger; every ledger opened is closed at teardown."""
    opened: list[Ledger] = []

    def _open(**kw: Any) -> Ledger:
        args: dict[str, Any] = {
            "batch_id": None,
            "input_name": "input.csv",
            "fingerprint": "f" * 64,
            "columns": COLUMNS,
        }
        args.update(kw)
        path = args.pop("path", ledger_path)
        ledger = Ledger.open(path, **args)
        opened.append(ledger)
        return ledger

    yield _open
    for ledger in opened:
        ledger.close()
