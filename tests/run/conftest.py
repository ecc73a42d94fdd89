"""Fixtures of the `taskloader run` tests: input files, fast settings, ledger views, processes.

Everything talks HTTP to an emulator: the session one from ``tests/conftest.py`` (reset per
test) or, for the tests that kill processes, a ``taskloader emulator`` subprocess.

- ``write_csv`` / ``write_jsonl`` / ``task_rows``: input files of simple rows (key, name, flow).
- ``make_settings``: a :class:`Settings` pointed at the emulator, with fast pacing, tiny backoffs
  and short grace/quota waits; ``run``: :func:`run_import` with those settings.
- ``ledger_records`` / ``ledger_counts``: the ledger read through :class:`LedgerReader`.
- ``TaskloaderProcess``: ``taskloader run ...`` as a subprocess, logs to files.
- ``emulator_process``: ``taskloader emulator --port 0`` as a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taskloader.emulator.world import DEFAULT_FLOWS, DEFAULT_INSTANCE_ID
from taskloader.ledger.store import LedgerReader, LedgerRecord
from taskloader.run.pipeline import run_import
from taskloader.run.report import RunReport
from taskloader.settings import Settings, load_settings
from tests.conftest import REGION, EmulatorHandle

TASKLOADER = Path(sys.executable).parent / "taskloader"
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "config" / "templates"

FLOW = sorted(DEFAULT_FLOWS)[0]
#: A well-formed flow id that no instance of the default world has.
MISSING_FLOW = "22222222-2222-4222-8222-000000000099"
COLUMNS = ("key", "name", "contact_flow_id", "description")

#: Settings that keep a run fast: quick pacing, tiny backoffs, short waits.
FAST: dict[str, Any] = {
    "rate": 200.0,
    "burst": 20,
    "concurrency": 8,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "max_attempts": 8,
    "row_deadline": 30.0,
    "quota_wait": 10.0,
    "grace_period": 5.0,
    "progress_interval": 0.2,
    "read_timeout": 10.0,
}

#: The same as environment variables, for `taskloader run` subprocesses (every setting has
#: a TASKLOADER_ variable and a flag).
FAST_ENV = {
    "TASKLOADER_BACKOFF_BASE": "0.01",
    "TASKLOADER_BACKOFF_CAP": "0.05",
    "TASKLOADER_READ_TIMEOUT": "10",
    "TASKLOADER_PROGRESS_INTERVAL": "0.5",
}


def task_rows(
    count: int, *, prefix: str = "r", start: int = 0, flow: str = FLOW
) -> list[dict[str, str]]:
    """``count`` valid rows with keys ``<prefix><n>``."""
    return [
        {
            "key": f"{prefix}{n}",
            "name": f"Task {prefix}{n}",
            "contact_flow_id": flow,
            "description": f"row {n}",
        }
        for n in range(start, start + count)
    ]


def write_csv(
    path: Path, rows: Sequence[Mapping[str, str]], columns: Sequence[str] = COLUMNS
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def ledger_records(path: Path) -> list[LedgerRecord]:
    with LedgerReader.open_readonly(path) as reader:
        return list(reader.iter_records())


def ledger_counts(path: Path) -> dict[str, int]:
    with LedgerReader.open_readonly(path) as reader:
        return reader.counts()


def succeeded_pairs(path: Path) -> set[tuple[str | None, str | None]]:
    """(ContactId, ClientToken) of every succeeded ledger record."""
    return {(r.contact_id, r.token) for r in ledger_records(path) if r.status.value == "succeeded"}


def contact_pairs(emulator: EmulatorHandle) -> set[tuple[str, str]]:
    """(ContactId, ClientToken) of every contact the emulator created."""
    return {(c["ContactId"], c["ClientToken"]) for c in emulator.contacts()}


def start_requests(emulator: EmulatorHandle) -> dict[str, int]:
    """StartTaskContact requests the emulator answered, by HTTP status (or drop/hang)."""
    return dict(emulator.stats()["requests"].get("StartTaskContact", {}))


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, every: float = 0.02) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout} s")
        time.sleep(every)


@pytest.fixture
def make_settings(emulator: EmulatorHandle, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a run against the session emulator; keyword arguments override FAST."""

    def build(**overrides: Any) -> Settings:
        flags: dict[str, Any] = {
            "region": REGION,
            "endpoint_url": emulator.url,
            "instance_id": emulator.instance_id,
            "ledger": str(tmp_path / "out" / "ledger.sqlite"),
            **FAST,
        }
        flags.update(overrides)
        return load_settings(flags=flags, environ={})

    return build


Run = Callable[..., Any]


@pytest.fixture
def run(make_settings: Callable[..., Settings]) -> Run:
    """``await run(path, **settings_overrides, client=..., gate=...)`` -> RunReport."""

    async def go(path: Path | str, *, gate: Any = None, **overrides: Any) -> RunReport:
        return await run_import(str(path), make_settings(**overrides), tty=False, gate=gate)

    return go


@pytest.fixture
def templates(emulator: EmulatorHandle, connect_client: Any) -> dict[str, str]:
    """The example templates of config/templates, created through the API: name -> id."""
    members = ("Name", "Description", "ContactFlowId", "Fields", "Constraints", "Defaults")
    created = {}
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        params = {k: data[k] for k in members if k in data}
        answer = connect_client.create_task_template(
            InstanceId=emulator.instance_id, Status="ACTIVE", **params
        )
        created[data["Name"]] = str(answer["Id"])
    return created


# -- subprocesses ----------------------------------------------------------------------------


@dataclass
class TaskloaderProcess:
    """A `taskloader run` subprocess; stdout (JSON log events) and stderr go to files."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @classmethod
    def start(
        cls, args: Sequence[str], workdir: Path, env: Mapping[str, str] | None = None
    ) -> TaskloaderProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        n = len(list(workdir.glob("run-*.out")))
        out, err = workdir / f"run-{n}.out", workdir / f"run-{n}.err"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(
                [str(TASKLOADER), "run", *args, "--log-format", "json"],
                stdout=fo,
                stderr=fe,
                env={**os.environ, **FAST_ENV, **(env or {})},
            )
        return cls(proc, out, err)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"taskloader run did not exit within {timeout} s:\n{self.stderr_text()}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The structured log events the run printed (JSON lines on stdout)."""
        out = []
        for line in self.stdout.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # not an event, or a line the live process is still writing
        return out

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()


def run_cli(
    args: Sequence[str], workdir: Path, *, timeout: float = 60.0, **env: str
) -> tuple[int, TaskloaderProcess]:
    """Run `taskloader run ARGS` to the end; returns (exit code, process)."""
    proc = TaskloaderProcess.start(args, workdir, env)
    return proc.wait(timeout), proc


def emulator_args(emulator: EmulatorHandle) -> list[str]:
    return [
        "--endpoint-url",
        emulator.url,
        "--region",
        REGION,
        "--instance-id",
        emulator.instance_id,
    ]


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[EmulatorHandle]:
    """A `taskloader emulator` subprocess (no quotas, no active-task limit) for the kill tests."""
    log = (tmp_path / "emulator.err").open("wb")
    proc = subprocess.Popen(
        [str(TASKLOADER), "emulator", "--port", "0", "--rate-limit", "off",
         "--active-task-limit", "off", "--seed", "4"],
        stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://"), url
        yield EmulatorHandle(url, DEFAULT_INSTANCE_ID)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()
