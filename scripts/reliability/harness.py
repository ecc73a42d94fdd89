"""Shared pieces of the reliability and benchmark scripts: real processes, generated rows, checks.

Everything talks to taskloader the way a user does: the emulator and `taskloader run` are
separate processes (``.venv/bin/taskloader``), the emulator is inspected over its
``/_emulator/`` endpoints and the ledger is read with plain sqlite3 (read-only).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TASKLOADER = str(BIN / "taskloader")
TEMPLATES = ROOT / "config" / "templates"
INSTANCE_ID = "11111111-1111-4111-8111-111111111111"

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eun", "Femi", "Gus", "Hana", "Ivo", "Jia", "Kai", "Lea"]
LAST = ["Silva", "Okafor", "Novak", "Tanaka", "Muller", "Haddad", "Kowalski", "Reyes", "Berg"]
REASONS = ["Billing", "Technical", "Sales", "Other"]
COLUMNS = [
    "key", "template", "name", "description", "Customer name", "Account number", "Email",
    "VIP", "Reason", "Case link", "attr.segment",
]  # fmt: skip


def callback_row(rng: random.Random, key: str, *, call_before: bool = False) -> dict[str, str]:
    """One valid row for the Callback template, drawn from ``rng`` (same seed, same row)."""
    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    account = rng.randint(100000, 999999)
    row = {
        "key": key,
        "template": "Callback",
        "name": f"Call back {person}",
        "description": f"Customer asked for a call back about account {account}",
        "Customer name": person,
        "Account number": str(account),
        "Email": f"{person.lower().replace(' ', '.')}@example.com",
        "VIP": rng.choice(["true", "false"]),
        "Reason": rng.choice(REASONS),
        "Case link": f"https://crm.example.com/cases/{account}",
    }
    if call_before:
        row["Call before"] = f"2027-01-{rng.randint(10, 28):02d}T17:00:00+00:00"
    row["attr.segment"] = rng.choice(["retail", "business", "gold"])
    return row


def write_rows(path: Path, rows: int, *, seed: int = 1, prefix: str = "row") -> list[str]:
    """Write ``rows`` valid Callback rows (unique keys) to a CSV file; return the keys in order."""
    rng = random.Random(seed)
    keys = [f"{prefix}-{n:06d}" for n in range(1, rows + 1)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        for key in keys:
            writer.writerow(callback_row(rng, key))
    return keys


def aws_env(**extra: str) -> dict[str, str]:
    """The environment for a client process: dummy credentials, no user AWS/taskloader config."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TASKLOADER_")) and k != "COLUMNS"
    }
    env.update(
        AWS_ACCESS_KEY_ID="AKIDLOCALLOCAL",
        AWS_SECRET_ACCESS_KEY="local-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


class Emulator:
    """`taskloader emulator` as a child process; ``restart()`` keeps the port (for ``--state``)."""

    def __init__(self, *args: str, log: Path | None = None) -> None:
        self.args = list(args)
        self.port = 0
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.start()

    def start(self) -> None:
        cmd = [TASKLOADER, "emulator", "--port", str(self.port), *self.args]
        deadline = time.monotonic() + 30
        while True:
            err = self.log.open("a") if self.log else None
            try:
                self.proc = subprocess.Popen(
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=err or subprocess.DEVNULL,
                    text=True,
                    env=aws_env(),
                )
            finally:
                if err:
                    err.close()
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().strip()
            if line.startswith("http://"):
                break
            self.proc.wait()
            self.proc.stdout.close()
            if time.monotonic() > deadline:  # the old port may linger a moment after a kill
                raise RuntimeError(f"emulator did not start: {cmd}")
            time.sleep(0.2)
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])
        self._drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self._drain.start()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait()
        if self.proc and self.proc.stdout and not self.proc.stdout.closed:
            self._drain.join(5)
            self.proc.stdout.close()

    def restart(self, sig: int = signal.SIGKILL) -> None:
        self.kill(sig)
        self.start()

    def close(self) -> None:
        self.kill(signal.SIGTERM)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}  # the emulator's admin endpoints need it
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "/_emulator/stats")  # type: ignore[no-any-return]

    def contacts(self) -> list[dict[str, Any]]:
        return self.call("GET", "/_emulator/contacts")  # type: ignore[no-any-return]


def run_command(emu: Emulator, input_path: Path, ledger: Path, *flags: str) -> list[str]:
    return [
        TASKLOADER, "run", str(input_path),
        "--endpoint-url", emu.url, "--instance-id", INSTANCE_ID,
        "--ledger", str(ledger), "--log-format", "json", "--log-level", "warning",
        "--progress-interval", "3600", *flags,
    ]  # fmt: skip


def ledger_rows(ledger: Path) -> list[tuple[int, str, str, str | None, str]]:
    """(number, key, status, contact_id, token) of every record, read-only."""
    conn = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT number, key, status, contact_id, token FROM records ORDER BY number"
        ).fetchall()
    finally:
        conn.close()


@dataclass
class Verdict:
    """The guarantees checked at the end of a run; ``ok`` when every one holds."""

    input_rows: int
    ledger_rows: int
    by_status: dict[str, int]
    rows_lost: int
    rows_twice: int
    emulator_contacts: int
    ledger_succeeded: int
    contact_ids_equal: bool
    duplicate_tokens_stat: int
    tokens_with_several_contacts: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    keys: list[str], ledger: Path, emu: Emulator, *, expect_all_succeeded: bool = True
) -> Verdict:
    """Compare the input, the ledger and the emulator's contacts."""
    rows = ledger_rows(ledger)
    contacts = emu.contacts()
    stats = emu.stats()
    by_status = Counter(r[2] for r in rows)
    ledger_keys = Counter(r[1] for r in rows)
    lost = sum(1 for k in keys if k not in ledger_keys)
    twice = sum(n - 1 for n in ledger_keys.values() if n > 1)
    succeeded = {r[3] for r in rows if r[2] == "succeeded"}
    emulated = {c["ContactId"] for c in contacts}
    per_token = Counter(c["ClientToken"] for c in contacts)
    several = sum(1 for n in per_token.values() if n > 1)
    verdict = Verdict(
        input_rows=len(keys),
        ledger_rows=len(rows),
        by_status=dict(sorted(by_status.items())),
        rows_lost=lost,
        rows_twice=twice,
        emulator_contacts=len(contacts),
        ledger_succeeded=len(succeeded),
        contact_ids_equal=succeeded == emulated,
        duplicate_tokens_stat=int(stats["duplicate_tokens"]),
        tokens_with_several_contacts=several,
    )
    p = verdict.problems
    if lost or twice or len(rows) != len(keys):
        p.append(f"{lost} rows lost, {twice} rows twice, {len(rows)} ledger rows")
    if [r[0] for r in rows] != list(range(1, len(keys) + 1)):
        p.append("ledger record numbers are not 1..N")
    if by_status.get("pending") or by_status.get("unprocessed"):
        p.append(f"rows not terminal: {dict(by_status)}")
    if expect_all_succeeded and by_status.get("succeeded") != len(keys):
        p.append(f"not every row succeeded: {dict(by_status)}")
    if succeeded != emulated:
        p.append(
            f"{len(emulated - succeeded)} emulator contacts not in the ledger, "
            f"{len(succeeded - emulated)} ledger contact ids unknown to the emulator"
        )
    if verdict.duplicate_tokens_stat or several:
        p.append(f"duplicates: stat {verdict.duplicate_tokens_stat}, tokens {several}")
    return verdict
