"""Creating and reopening a ledger: batch id, fingerprint check, the overlap lock, bad files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taskloader.errors import LedgerError, LedgerLockedError, LedgerMismatchError
from taskloader.input.location import fingerprint_file
from taskloader.ledger.store import Ledger, LedgerReader

from .conftest import COLUMNS, OpenLedger, outcome


def test_new_ledger_stores_meta_and_a_fresh_batch_id(open_ledger: OpenLedger) -> None:
    ledger = open_ledger(input_name="in.csv", fingerprint="abc")
    assert len(ledger.batch_id) == 32
    int(ledger.batch_id, 16)  # uuid4 hex
    assert ledger.input_name == "in.csv"
    assert ledger.fingerprint == "abc"
    assert ledger.columns == COLUMNS
    assert ledger.created_at


def test_two_new_ledgers_get_different_batch_ids(tmp_path: Path, open_ledger: OpenLedger) -> None:
    a = open_ledger(path=tmp_path / "a.db")
    b = open_ledger(path=tmp_path / "b.db")
    assert a.batch_id != b.batch_id


def test_explicit_batch_id_is_used_and_persists(open_ledger: OpenLedger) -> None:
    open_ledger(batch_id="nightly-42").close()
    assert open_ledger(batch_id=None).batch_id == "nightly-42"


def test_reopen_keeps_the_stored_batch_id(open_ledger: OpenLedger) -> None:
    first = open_ledger()
    batch = first.batch_id
    first.close()
    assert open_ledger().batch_id == batch


def test_a_different_explicit_batch_id_on_an_existing_ledger_is_refused(
    open_ledger: OpenLedger,
) -> None:
    open_ledger(batch_id="one").close()
    with pytest.raises(LedgerError, match="batch id 'one'") as info:
        open_ledger(batch_id="two")
    assert not isinstance(info.value, LedgerMismatchError)
    assert open_ledger(batch_id="one").batch_id == "one"  # the refusal released the lock


def test_changed_input_is_refused(open_ledger: OpenLedger) -> None:
    open_ledger(fingerprint="a" * 64).close()
    with pytest.raises(LedgerMismatchError, match="changed since"):
        open_ledger(fingerprint="b" * 64)


def test_force_accepts_a_changed_input_and_records_the_new_fingerprint(
    open_ledger: OpenLedger,
) -> None:
    open_ledger(fingerprint="a" * 64).close()
    open_ledger(fingerprint="b" * 64, force=True, columns=("key", "extra")).close()
    reopened = open_ledger(fingerprint="b" * 64)
    assert reopened.fingerprint == "b" * 64
    assert reopened.columns == ("key", "extra")


def test_unknown_fingerprint_skips_the_check(open_ledger: OpenLedger) -> None:
    open_ledger(fingerprint="a" * 64).close()
    assert open_ledger(fingerprint=None).fingerprint == "a" * 64


def test_second_open_is_locked_until_the_first_closes(open_ledger: OpenLedger) -> None:
    first = open_ledger()
    with pytest.raises(LedgerLockedError, match="another run holds it"):
        open_ledger()
    first.close()
    open_ledger()


def test_lock_held_by_another_process_is_refused(ledger_path: Path) -> None:
    script = (
        "import sys; from taskloader.ledger.store import Ledger; "
        f"L = Ledger.open({str(ledger_path)!r}, batch_id=None, input_name='x', "
        "fingerprint=None, columns=[]); print('ready', flush=True); sys.stdin.read()"
    )
    cmd = [sys.executable, "-c", script]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "ready"
            with pytest.raises(LedgerLockedError, match=f"pid {holder.pid}"):
                Ledger.open(
                    ledger_path, batch_id=None, input_name="x", fingerprint=None, columns=[]
                )
        finally:
            holder.kill()
    # The kernel released the dead process's lock.
    Ledger.open(ledger_path, batch_id=None, input_name="x", fingerprint=None, columns=[]).close()


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError, match="ledger"):
        Ledger.open(junk, batch_id=None, input_name="x", fingerprint=None, columns=[])
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(LedgerError, match="not a taskloader ledger"):
        Ledger.open(other, batch_id=None, input_name="x", fingerprint=None, columns=[])


def test_a_ledger_from_a_newer_schema_is_refused(
    open_ledger: OpenLedger, ledger_path: Path
) -> None:
    open_ledger().close()
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(LedgerError, match="newer taskloader"):
        open_ledger()


def test_readonly_open_of_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no such ledger"):
        LedgerReader.open_readonly(tmp_path / "missing.db")


def test_readonly_view_works_while_the_writer_holds_the_lock(open_ledger: OpenLedger) -> None:
    ledger = open_ledger()
    ledger.record([outcome(1, "succeeded", contact_id="c1")])
    with LedgerReader.open_readonly(ledger.path) as reader:
        assert reader.counts()["succeeded"] == 1
        assert reader.batch_id == ledger.batch_id


def test_fingerprint_is_the_sha256_of_the_content(tmp_path: Path) -> None:
    f = tmp_path / "in.csv"
    f.write_bytes(b"a,b\n1,2\n" * 1000)
    same = tmp_path / "copy.csv"
    same.write_bytes(f.read_bytes())
    assert fingerprint_file(f, chunk_size=7) == fingerprint_file(same)
    import hashlib

    assert fingerprint_file(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    same.write_bytes(f.read_bytes() + b"3,4\n")
    assert fingerprint_file(same) != fingerprint_file(f)


def test_missing_directories_are_created(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "run.ledger"
    Ledger.open(nested, batch_id=None, input_name="x", fingerprint=None, columns=[]).close()
    assert nested.is_file()


def test_an_unusable_location_is_a_ledger_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LedgerError, match="cannot create"):
        Ledger.open(blocker / "run.ledger", batch_id=None, input_name="x", fingerprint=None,
                    columns=[])  # fmt: skip


def test_a_schema_1_ledger_is_upgraded_in_place_with_rows_by_key(tmp_path: Path) -> None:
    """A ledger of the previous taskloader (rows by position, a repeated key): opened by a run,
    its rows are kept by key (a later repeat as ``<key>#<n>``) and belong to the first pass."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
        CREATE TABLE records (number INTEGER PRIMARY KEY, line INTEGER NOT NULL, key TEXT,
            token TEXT, status TEXT NOT NULL, contact_id TEXT, error_code TEXT,
            error_message TEXT, attempts INTEGER NOT NULL DEFAULT 0, first_attempt_at TEXT,
            last_attempt_at TEXT, raw TEXT);
        CREATE INDEX records_by_status ON records (status, number);
        INSERT INTO meta VALUES ('schema_version', '1'), ('batch_id', 'b1'),
            ('input_name', 'in.csv'), ('columns', '["key"]'), ('settings', '{}');
        INSERT INTO records VALUES (1, 2, 'a', 't1', 'succeeded', 'c1', NULL, NULL, 1, NULL,
            NULL, '{"key": "a"}');
        INSERT INTO records VALUES (2, 3, 'a', 't2', 'invalid', NULL, 'duplicate_key', NULL, 0,
            NULL, NULL, '{"key": "a"}');
        INSERT INTO records VALUES (3, 4, 'b', 't3', 'pending', NULL, NULL, NULL, 0, NULL, NULL,
            '{"key": "b"}');
        """
    )
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="upgrades it in place"):
        LedgerReader.open_readonly(path)
    with Ledger.open(path, batch_id=None, input_name="in.csv", fingerprint=None, columns=[]) as led:
        assert led.batch_id == "b1"
        records = {r.ident: (r.number, r.status.value, r.token) for r in led.iter_records()}
        assert records == {
            "a": (1, "succeeded", "t1"),
            "a#2": (2, "invalid", "t2"),
            "b": (3, "pending", "t3"),
        }
        assert [t.ident for t in led.to_send(0)] == ["b"]
    with LedgerReader.open_readonly(path) as reader:
        assert reader.counts()["succeeded"] == 1
