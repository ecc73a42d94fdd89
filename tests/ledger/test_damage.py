"""A damaged ledger is never mistaken for a new one: each kind of damage is a clear
LedgerDamagedError naming the file and what to do, and the file is left as it was."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taskloader.errors import LedgerDamagedError, LedgerError
from taskloader.ledger.store import Ledger, LedgerReader

from .conftest import COLUMNS, outcome


def open_at(path: Path, **kw: object) -> Ledger:
    args: dict[str, object] = {
        "batch_id": None,
        "input_name": "input.csv",
        "fingerprint": "f" * 64,
        "columns": COLUMNS,
    }
    args.update(kw)
    return Ledger.open(path, **args)  # type: ignore[arg-type]


def crash_image(ledger: Ledger, into: Path) -> Path:
    """The ledger's files as a process killed right now would leave them (main file + WAL)."""
    into.mkdir(parents=True, exist_ok=True)
    copy = into / ledger.path.name
    shutil.copy(ledger.path, copy)
    shutil.copy(f"{ledger.path}-wal", f"{copy}-wal")
    return copy


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_ledger_is_created_whole(tmp_path: Path) -> None:
    """Its main file holds the schema and meta at once: nothing of it lives only in a WAL."""
    ledger = open_at(tmp_path / "l.db")
    image = crash_image(ledger, tmp_path / "img")
    ledger.close()
    Path(f"{image}-wal").unlink()
    conn = sqlite3.connect(f"{image.resolve().as_uri()}?immutable=1", uri=True)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"meta", "records"} <= tables


def test_an_empty_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    path.touch()
    with pytest.raises(LedgerDamagedError, match="empty file") as info:
        open_at(path)
    assert str(path) in str(info.value)
    assert "--batch-id" in str(info.value)
    assert path.stat().st_size == 0
    with pytest.raises(LedgerDamagedError, match="empty file"):  # `ledger summary` too
        LedgerReader.open_readonly(path)


def test_a_crash_keeps_every_committed_batch(tmp_path: Path) -> None:
    ledger = open_at(tmp_path / "l.db")
    ledger.record([outcome(1, "succeeded", contact_id="c1"), outcome(2, "failed")])
    image = crash_image(ledger, tmp_path / "img")
    ledger.close()
    reopened = open_at(image)
    assert reopened.counts()["succeeded"] == 1
    assert reopened.batch_id == ledger.batch_id
    reopened.close()


def test_a_lost_wal_is_refused(tmp_path: Path) -> None:
    ledger = open_at(tmp_path / "l.db")
    ledger.record([outcome(1, "succeeded", contact_id="c1")])
    image = crash_image(ledger, tmp_path / "img")
    ledger.close()
    Path(f"{image}-wal").unlink()
    before = digest(image)
    with pytest.raises(LedgerDamagedError, match=r"l\.db-wal is missing") as info:
        open_at(image)
    assert f"--batch-id {ledger.batch_id}" in str(info.value)
    assert digest(image) == before


def test_a_wal_without_its_ledger_is_refused(tmp_path: Path) -> None:
    ledger = open_at(tmp_path / "l.db")
    ledger.record([outcome(1, "succeeded", contact_id="c1")])
    image = crash_image(ledger, tmp_path / "img")
    ledger.close()
    image.unlink()
    with pytest.raises(LedgerDamagedError, match="ledger file is missing"):
        open_at(image)
    assert not image.exists()


def test_a_foreign_wal_is_not_applied(tmp_path: Path) -> None:
    """SQLite would replay another ledger's WAL and take over its batch: refused instead."""
    a = open_at(tmp_path / "a" / "l.db")
    b = open_at(tmp_path / "b" / "l.db")
    b.record([outcome(n, "succeeded", contact_id=f"c{n}") for n in range(1, 50)])
    a.close()
    image_b = crash_image(b, tmp_path / "img-b")
    b.close()
    shutil.copy(f"{image_b}-wal", f"{a.path}-wal")
    before = digest(a.path)
    with pytest.raises(LedgerDamagedError, match="belongs to another ledger"):
        open_at(a.path)
    assert digest(a.path) == before  # not checkpointed into the main file
    Path(f"{a.path}-wal").unlink()
    with open_at(a.path) as again:
        assert again.batch_id == a.batch_id
        assert again.counts()["succeeded"] == 0


def test_a_stale_wal_of_an_earlier_run_is_not_applied(tmp_path: Path) -> None:
    ledger = open_at(tmp_path / "l.db")
    ledger.record([outcome(1, "failed")])
    stale = crash_image(ledger, tmp_path / "img")
    ledger.record([outcome(1, "succeeded", contact_id="c1")])
    ledger.close()
    with open_at(ledger.path) as second:  # another run, closed cleanly
        second.record([outcome(2, "succeeded", contact_id="c2")])
    shutil.copy(f"{stale}-wal", f"{ledger.path}-wal")
    with pytest.raises(LedgerDamagedError, match="another run of this ledger"):
        open_at(ledger.path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("DELETE FROM meta WHERE key = 'batch_id'", "no batch_id"),
        ("DROP TABLE records", "records table is missing"),
        ("DROP TABLE meta", "meta table is missing"),
    ],
)
def test_a_missing_table_or_batch_id_is_refused(tmp_path: Path, damage: str, message: str) -> None:
    path = tmp_path / "l.db"
    open_at(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(damage)
    conn.close()
    with pytest.raises(LedgerDamagedError, match=message) as info:
        open_at(path)
    assert str(path) in str(info.value)
    with pytest.raises(LedgerError, match=message):  # `ledger summary` / `export` too
        LedgerReader.open_readonly(path)


def test_a_database_without_tables_is_not_started_again(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA user_version=1")
    conn.close()
    with pytest.raises(LedgerDamagedError, match="holds no tables"):
        open_at(path)


def test_a_snapshot_opens_without_a_wal(tmp_path: Path) -> None:
    """The S3 checkpoint is a self-contained copy: resumed without its source's WAL."""
    ledger = open_at(tmp_path / "l.db")
    ledger.record([outcome(1, "succeeded", contact_id="c1")])
    (tmp_path / "snap").mkdir()
    snapshot = ledger.backup_to(tmp_path / "snap" / "l.db")
    ledger.close()
    with open_at(snapshot) as resumed:
        assert resumed.counts()["succeeded"] == 1
        assert resumed.batch_id == ledger.batch_id


def test_an_older_ledger_gets_an_id_and_joins_the_checks(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    open_at(path).close()
    with sqlite3.connect(path) as conn:  # what an older taskloader wrote: no id, no session
        conn.execute("DELETE FROM meta WHERE key IN ('ledger_id', 'session', 'state')")
    conn.close()
    ledger = open_at(path)
    ledger.record([outcome(1, "succeeded", contact_id="c1")])
    image = crash_image(ledger, tmp_path / "img")
    ledger.close()
    Path(f"{image}-wal").unlink()
    with pytest.raises(LedgerDamagedError, match="is missing"):
        open_at(image)


def test_a_creation_killed_half_way_leaves_nothing_for_good(tmp_path: Path) -> None:
    """A killed creation leaves only its temporary files (never a half ledger at the path);
    the next open removes them and creates the ledger."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    path = tmp_path / "l.db"
    leftovers = [tmp_path / f".l.db.{dead.stdout.strip()}.tmp{end}" for end in ("", "-wal")]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    with open_at(path) as ledger:
        assert len(ledger.batch_id) == 32
    assert not any(p.exists() for p in leftovers)
