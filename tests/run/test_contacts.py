"""After the import, over HTTP: update, transfer and stop the contacts of a batch on the run
engine (`taskloader contacts ...`), checked against the emulator's own records and counters."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskloader.errors import LedgerMismatchError
from taskloader.run.contact_ops import OPERATIONS
from taskloader.run.contact_rows import ContactSource
from taskloader.run.contacts import run_contacts
from taskloader.run.report import RunReport
from taskloader.run.sender import client_token
from taskloader.settings import Settings
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    FAST_ENV,
    TASKLOADER,
    Run,
    emulator_args,
    ledger_counts,
    ledger_records,
    read_csv,
    run_cli,
    task_rows,
    wait_for,
    write_csv,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "src/taskloader/examples/demo/callbacks.csv"


def _queue(emulator: EmulatorHandle) -> str:
    return str(emulator.world()["instances"][0]["queues"][0])


async def _import(run: Run, tmp_path: Path, rows: int) -> Path:
    report = await run(write_csv(tmp_path / "tasks.csv", task_rows(rows)))
    assert report.exit_code == 0
    return Path(report.ledger)


async def _contacts(
    make_settings: Callable[..., Settings],
    name: str,
    source: ContactSource,
    ledger: Path,
    pace: tuple[float, int] = (200.0, 20),
    **overrides: Any,
) -> RunReport:
    settings = make_settings(ledger=str(ledger), **overrides)
    return await run_contacts(OPERATIONS[name], source, settings, pace=pace, tty=False)


def _by_id(emulator: EmulatorHandle) -> dict[str, dict[str, Any]]:
    return {c["ContactId"]: c for c in emulator.contacts()}


async def test_transfer_a_batch_at_the_quota_without_a_throttle(
    run: Run, make_settings: Callable[..., Settings], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """200 imported tasks transferred to a queue with the emulator enforcing a TransferContact
    quota of 20/s burst 5 and taskloader pacing at it: every task is in the queue, transferred
    once, the emulator counted 200 accepted TransferContact calls and no throttle, and each
    call carried the deterministic ClientToken sha256(batch id, contact id)."""
    imported = await _import(run, tmp_path, 200)
    queue = _queue(emulator)
    emulator.configure(quotas={"TransferContact": {"rate": 20, "burst": 5}})
    values = {
        "queue_id": queue,
        "contact_flow_id": emulator.world()["instances"][0]["contact_flows"][0],
    }
    source = ContactSource(from_ledger=str(imported), values=values)
    ledger = tmp_path / "transfer" / "ledger.sqlite"

    report = await _contacts(make_settings, "transfer", source, ledger, pace=(20.0, 5))

    assert report.exit_code == 0, report
    assert report.counts["succeeded"] == 200
    stats = emulator.stats()
    assert stats["throttled"] == 0
    assert stats["requests"]["TransferContact"] == {"200": 200}
    contacts = _by_id(emulator)
    assert all(c["QueueId"] == queue and c["Transfers"] == 1 for c in contacts.values())
    records = ledger_records(ledger)
    assert {r.key for r in records} == set(contacts)
    assert all(r.token == client_token(report.batch_id, str(r.key)) for r in records)
    succeeded = read_csv(ledger.parent / "succeeded.csv")
    assert len(succeeded) == 200


async def test_stop_a_batch_then_stop_again_fails_each_row_cleanly(
    run: Run, make_settings: Callable[..., Settings], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Stopping 30 imported tasks ends them (the active-task count drops to 0); a second stop
    of the same contacts fails every row as contact_not_active with one call each (not
    retried), exit 1, and failed.csv names them."""
    imported = await _import(run, tmp_path, 30)
    assert emulator.stats()["active_tasks"] == 30
    source = ContactSource(from_ledger=str(imported))

    first = await _contacts(make_settings, "stop", source, tmp_path / "stop1" / "l.sqlite")

    assert first.exit_code == 0
    assert emulator.stats()["active_tasks"] == 0
    assert all(not c["Active"] for c in emulator.contacts())

    second = await _contacts(make_settings, "stop", source, tmp_path / "stop2" / "l.sqlite")

    assert second.exit_code == 1
    assert second.counts["failed"] == 30
    assert emulator.stats()["requests"]["StopContact"] == {"200": 30, "410": 30}
    records = ledger_records(tmp_path / "stop2" / "l.sqlite")
    assert {r.error_code for r in records} == {"contact_not_active"}
    assert all(r.attempts == 1 for r in records)
    failed = read_csv(tmp_path / "stop2" / "l.failed.csv")
    assert {row["contact_id"] for row in failed} == set(_by_id(emulator))


async def test_update_from_a_file_and_from_the_ledger(
    run: Run, make_settings: Callable[..., Settings], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A file renames 3 contacts and sets a reference (a row without contact_id is invalid and
    never sent); then --from-ledger sets every contact's description. The emulator holds
    exactly those values; a rerun of a finished update sends nothing."""
    imported = await _import(run, tmp_path, 10)
    ids = [r.contact_id for r in ledger_records(imported)]
    rows = [
        {"contact_id": ids[n], "name": f"renamed {n}", "ref.ticket": f"T-{n}"} for n in range(3)
    ] + [{"contact_id": "", "name": "nobody", "ref.ticket": ""}]
    path = write_csv(tmp_path / "fix.csv", rows, ("contact_id", "name", "ref.ticket"))
    ledger = tmp_path / "upd" / "ledger.sqlite"

    report = await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger)

    assert report.exit_code == 1
    assert ledger_counts(ledger)["succeeded"] == 3
    assert ledger_counts(ledger)["invalid"] == 1
    assert emulator.stats()["requests"]["UpdateContact"] == {"200": 3}
    contacts = _by_id(emulator)
    for n in range(3):
        assert contacts[str(ids[n])]["Name"] == f"renamed {n}"
        assert contacts[str(ids[n])]["References"]["ticket"] == {
            "Type": "STRING",
            "Value": f"T-{n}",
        }
    assert contacts[str(ids[5])]["Name"] == "Task r5"

    rerun = await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger)
    assert rerun.sent == 0

    source = ContactSource(from_ledger=str(imported), values={"description": "checked"})
    every = await _contacts(make_settings, "update", source, tmp_path / "all" / "ledger.sqlite")

    assert every.exit_code == 0
    assert all(c["Description"] == "checked" for c in emulator.contacts())
    assert emulator.stats()["requests"]["UpdateContact"] == {"200": 13}


def _contacts_cli(args: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(list(workdir.glob("c-*.err")))
    with (workdir / f"c-{n}.out").open("wb") as out, (workdir / f"c-{n}.err").open("wb") as err:
        return subprocess.Popen(
            [str(TASKLOADER), "contacts", *args, "--log-format", "json"],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **FAST_ENV},
        )


def _imported_by_cli(emulator: EmulatorHandle, rows: int, tmp_path: Path) -> Path:
    """The ledger of `taskloader run` importing ``rows`` rows, fast."""
    path = write_csv(tmp_path / "tasks.csv", task_rows(rows))
    imported = tmp_path / "imp" / "ledger.sqlite"
    code, proc = run_cli([str(path), *emulator_args(emulator), "--ledger", str(imported),
                          "--rate", "500", "--burst", "50"], tmp_path / "logs")  # fmt: skip
    assert code == 0, proc.stderr_text()
    return imported


def _kill_ahead_of_its_ledger(
    args: list[str], workdir: Path, made: Callable[[], int], ledger: Path, least: int, ahead: int
) -> None:
    """Run `taskloader contacts ARGS` and SIGKILL it once the emulator has carried out ``made()``
    >= ``least`` calls, more than ``ahead`` of them not yet recorded as succeeded in ``ledger``."""

    def recorded() -> int:
        try:
            return ledger_counts(ledger)["succeeded"]
        except Exception:
            return 0

    live = _contacts_cli(args, workdir)
    try:
        wait_for(lambda: made() >= least and made() > recorded() + ahead)
    finally:
        live.kill()
        live.wait()
    assert live.returncode == -9


def test_sigkill_mid_transfer_then_resume_transfers_each_contact_once(
    emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """`taskloader contacts transfer` killed with SIGKILL while transfers were made but not yet
    recorded, then rerun: every contact was transferred exactly once (the resent rows carried
    their ClientTokens and were answered as replays), and the ledger holds every row succeeded.
    `stop` off a terminal without --yes is refused (exit 2) before anything is sent."""
    emulator = emulator_process
    rows = 120
    imported = _imported_by_cli(emulator, rows, tmp_path)
    world = emulator.world()["instances"][0]
    ledger = tmp_path / "tr" / "ledger.sqlite"
    flow = world["contact_flows"][0]
    args = ["transfer", "--from-ledger", str(imported), *emulator_args(emulator),
            "--ledger", str(ledger), "--queue-id", world["queues"][0],
            "--contact-flow-id", flow, "--rate", "40", "--burst", "5"]  # fmt: skip

    def transferred() -> int:
        return sum(c["Transfers"] for c in emulator.contacts())

    _kill_ahead_of_its_ledger(args, tmp_path / "logs", transferred, ledger, least=30, ahead=2)

    resumed = _contacts_cli(args, tmp_path / "logs")
    assert resumed.wait(timeout=60) == 0
    assert all(c["Transfers"] == 1 for c in emulator.contacts())
    assert len(emulator.contacts()) == rows
    assert ledger_counts(ledger)["succeeded"] == rows
    assert emulator.stats()["requests"]["TransferContact"].get("200", 0) > rows  # replays

    stop = ["stop", "--from-ledger", str(imported), *emulator_args(emulator),
            "--ledger", str(tmp_path / "st" / "l.sqlite")]  # fmt: skip
    refused = _contacts_cli(stop, tmp_path / "logs")
    assert refused.wait(timeout=30) == 2
    assert emulator.stats()["active_tasks"] == rows


def test_sigkill_mid_stop_then_resume_records_every_contact_stopped(
    emulator_process: EmulatorHandle, tmp_path: Path
) -> None:
    """`contacts stop` killed while stops were carried out but not yet recorded, then rerun:
    StopContact has no ClientToken, so the resent rows are answered "no longer active"; the
    ledger marked them in doubt before sending, so they are this batch's stops (succeeded, saying
    so), not failures. A contact ended before the batch is still a failure (the other test)."""
    emulator = emulator_process
    rows = 60
    imported = _imported_by_cli(emulator, rows, tmp_path)
    ledger = tmp_path / "st" / "ledger.sqlite"
    args = ["stop", "--from-ledger", str(imported), *emulator_args(emulator), "--yes",
            "--ledger", str(ledger), "--rate", "20", "--burst", "4"]  # fmt: skip
    emulator.configure(faults={"latency_ms": 400.0})

    def stopped() -> int:
        return rows - int(emulator.stats()["active_tasks"])

    _kill_ahead_of_its_ledger(args, tmp_path / "logs", stopped, ledger, least=8, ahead=1)
    emulator.configure(faults={"latency_ms": 0.0})

    resumed = _contacts_cli(args, tmp_path / "logs")
    assert resumed.wait(timeout=60) == 0
    assert emulator.stats()["active_tasks"] == 0
    records = ledger_records(ledger)
    assert [r.status.value for r in records] == ["succeeded"] * rows
    settled = [r for r in records if (r.error_message or "").startswith("already:")]
    assert settled, "no row was resent after the kill: the kill came too late"
    assert emulator.stats()["requests"]["StopContact"].get("200", 0) == rows


async def test_verify_names_exactly_the_changed_and_the_deleted_tasks(
    run: Run,
    make_settings: Callable[..., Settings],
    emulator: EmulatorHandle,
    connect_client: Any,
    tmp_path: Path,
) -> None:
    """300 imported rows (name, description, a reference, some scheduled) all verify; then one
    task renamed, one with another description and one with another reference value through
    UpdateContact, and one deleted: a second verify (same ledger) lists exactly those three in
    mismatched.csv, with the field asked vs found, the deleted one in missing.csv, the rest
    verified, exit 1. (The scheduled time is among what was compared.)"""
    later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    rows = [
        {**row, "ref.ticket": f"T-{n}", "scheduled_time": later if n % 50 == 0 else ""}
        for n, row in enumerate(task_rows(300))
    ]
    columns = ("key", "name", "contact_flow_id", "description", "ref.ticket", "scheduled_time")
    imported = await run(write_csv(tmp_path / "tasks.csv", rows, columns))
    assert imported.exit_code == 0
    ledger = tmp_path / "verify" / "ledger.sqlite"
    source = ContactSource(from_ledger=imported.ledger)

    first = await _contacts(make_settings, "verify", source, ledger)

    assert first.exit_code == 0, first
    assert first.counts["succeeded"] == 300
    assert len(read_csv(ledger.parent / "verified.csv")) == 300
    raws = [r.raw or {} for r in ledger_records(ledger)]
    expected = {raw["key"]: json.loads(raw["expected"]) for raw in raws}
    assert expected["r0"]["scheduled_time"] == int(datetime.fromisoformat(later).timestamp())
    assert expected["r1"]["scheduled_time"] is None
    ids = {r.key: str(r.contact_id) for r in ledger_records(Path(imported.ledger))}
    iid = emulator.instance_id
    connect_client.update_contact(InstanceId=iid, ContactId=ids["r10"], Name="Someone else")
    connect_client.update_contact(InstanceId=iid, ContactId=ids["r20"], Description="edited")
    connect_client.update_contact(
        InstanceId=iid,
        ContactId=ids["r30"],
        References={"ticket": {"Type": "STRING", "Value": "T-999"}},
    )
    emulator.delete_contact(ids["r40"])
    before = emulator.stats()["requests"]

    second = await _contacts(make_settings, "verify", source, ledger)

    assert second.exit_code == 1
    assert second.counts == {
        "pending": 0, "succeeded": 296, "failed": 4, "invalid": 0, "unprocessed": 0
    }  # fmt: skip
    mismatched = read_csv(ledger.parent / "mismatched.csv")
    assert [(m["key"], m["field"], m["asked"], m["found"]) for m in mismatched] == [
        ("r10", "name", "Task r10", "Someone else"),
        ("r20", "description", "row 20", "edited"),
        ("r30", "ref.ticket", '["STRING", "T-30"]', '["STRING", "T-999"]'),
    ]
    missing = read_csv(ledger.parent / "missing.csv")
    assert [(m["key"], m["contact_id"]) for m in missing] == [("r40", ids["r40"])]
    assert len(read_csv(ledger.parent / "verified.csv")) == 296
    # failed.csv says what differs too, in the shape of every result file
    failed = {r["key"]: r for r in read_csv(ledger.parent / "failed.csv")}
    assert failed["r20"]["taskloader.error_code"] == "mismatched"
    assert failed["r20"]["taskloader.contact_id"] == ids["r20"]  # the contact the row is about
    assert failed["r40"]["taskloader.contact_id"] == ids["r40"]  # missing, by its id
    assert failed["r20"]["taskloader.message"] == "description: asked row 20, found edited"
    after = emulator.stats()["requests"]
    # Reads only: every row read again once (DescribeContact, ListContactReferences), no write.
    assert after["DescribeContact"]["200"] - before["DescribeContact"]["200"] == 299
    assert after["DescribeContact"]["404"] == 1
    assert after.get("UpdateContact") == before.get("UpdateContact")


@pytest.mark.parametrize(("answer", "code", "active"), [("n", 3, 12), ("y", 0, 0)])
async def test_on_a_terminal_stop_asks_with_the_count(
    run: Run, emulator: EmulatorHandle, tmp_path: Path, answer: str, code: int, active: int
) -> None:
    """On a terminal `contacts stop` shows the number of contacts and asks: "n" stops none
    (the run ends resumable, exit 3), "y" stops them all."""
    imported = await _import(run, tmp_path, 12)
    main_fd, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(TASKLOADER), "contacts", "stop", "--from-ledger", str(imported),
             *emulator_args(emulator), "--log-level", "warning"],
            stdin=terminal, stderr=terminal, stdout=subprocess.DEVNULL,
            env={**os.environ, **FAST_ENV},
        )  # fmt: skip
        shown = b""
        while b"[y/N]" not in shown:
            ready, _, _ = select.select([main_fd], [], [], 30)
            assert ready, shown.decode(errors="replace")
            shown += os.read(main_fd, 4096)
        os.write(main_fd, f"{answer}\n".encode())
        assert proc.wait(timeout=60) == code
    finally:
        os.close(main_fd)
        os.close(terminal)
    assert "Stop 12 contacts (StopContact)?" in shown.decode()
    assert emulator.stats()["active_tasks"] == active


async def test_verify_a_templated_import(
    run: Run,
    make_settings: Callable[..., Settings],
    emulator: EmulatorHandle,
    templates: dict[str, str],
    tmp_path: Path,
) -> None:
    """Rows of the example callbacks.csv through the Callback template (text, number, email,
    date-time, boolean, single-select and URL fields, template defaults): every task verifies,
    template included."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()[:31]
    path = tmp_path / "callbacks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = await run(path)
    assert imported.counts["succeeded"] >= 25, imported.counts
    ledger = tmp_path / "verify" / "ledger.sqlite"
    source = ContactSource(from_ledger=imported.ledger)

    report = await _contacts(make_settings, "verify", source, ledger)

    assert report.exit_code == 0, read_csv(ledger.parent / "mismatched.csv")
    assert report.counts["succeeded"] == imported.counts["succeeded"]
    raws = [r.raw or {} for r in ledger_records(ledger)]
    asked = [json.loads(raw["expected"]) for raw in raws]
    assert all(a["template"] == templates["Callback"] for a in asked)
    assert {t for a in asked for t, _ in a["references"].values()} >= {"NUMBER", "EMAIL", "URL"}


async def test_update_sets_template_fields_by_name_with_their_types(
    run: Run,
    make_settings: Callable[..., Settings],
    emulator: EmulatorHandle,
    templates: dict[str, str],
    tmp_path: Path,
) -> None:
    """`contacts update --template Callback` takes the template's field names as columns: an
    EMAIL, a DATE_TIME (read in --timezone) and a URL field become references of those types,
    the DESCRIPTION field the Description; a bad e-mail is that row's problem, never sent.
    Without the template the same columns are unknown, and nothing is sent."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()[:6]
    path = tmp_path / "callbacks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = await run(path)
    ids = [r.contact_id for r in ledger_records(Path(imported.ledger)) if r.contact_id]
    assert len(ids) >= 3
    columns = ("contact_id", "Email", "Call before", "case LINK", "Notes")
    rows = [
        {"contact_id": ids[0], "Email": "new@example.com", "Call before": "2026-12-30 09:00",
         "case LINK": "https://crm.example.com/c/1", "Notes": "moved"},
        {"contact_id": ids[1], "Email": "not an address", "Call before": "",
         "case LINK": "", "Notes": ""},
    ]  # fmt: skip
    fix = write_csv(tmp_path / "fix.csv", rows, columns)

    without = await _contacts(
        make_settings, "update", ContactSource(file=str(fix)), tmp_path / "u0" / "ledger.sqlite"
    )
    assert without.counts["invalid"] == 2
    assert "UpdateContact" not in emulator.stats()["requests"]

    report = await _contacts(
        make_settings, "update", ContactSource(file=str(fix)), tmp_path / "u1" / "ledger.sqlite",
        template="Callback", timezone="Europe/Paris",
    )  # fmt: skip

    assert report.exit_code == 1
    assert (report.counts["succeeded"], report.counts["invalid"]) == (1, 1)
    assert emulator.stats()["requests"]["UpdateContact"] == {"200": 1}
    updated = _by_id(emulator)[str(ids[0])]
    refs = updated["References"]
    assert refs["Email"] == {"Type": "EMAIL", "Value": "new@example.com"}
    assert refs["Call before"] == {"Type": "DATE", "Value": "1798617600"}  # 08:00Z
    assert refs["Case link"] == {"Type": "URL", "Value": "https://crm.example.com/c/1"}
    assert updated["Description"] == "moved"
    [bad] = [r for r in ledger_records(tmp_path / "u1" / "ledger.sqlite") if r.key == ids[1]]
    assert bad.error_code == "invalid_email" and "Email" in (bad.error_message or "")
    assert _by_id(emulator)[str(ids[1])]["References"]["Email"]["Value"] != "not an address"


async def test_an_update_file_fixed_in_place_resumes_with_force_as_the_summary_says(
    run: Run,
    make_settings: Callable[..., Settings],
    emulator: EmulatorHandle,
    templates: dict[str, str],
    tmp_path: Path,
) -> None:
    """The summary's advice for an invalid update row, followed literally: fixed in the file,
    the same command with --force sends that row alone; the same file with another --template
    is another run (refused on this ledger), not a resume."""
    imported = await _import(run, tmp_path, 3)
    ids = [str(r.contact_id) for r in ledger_records(imported)]
    rows = [{"contact_id": ids[0], "Email": "a@example.com"},
            {"contact_id": ids[1], "Email": "not an address"}]  # fmt: skip
    path = write_csv(tmp_path / "fix.csv", rows, ("contact_id", "Email"))
    ledger = tmp_path / "u" / "ledger.sqlite"
    first = await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger,
                            template="Callback")  # fmt: skip
    assert (first.counts["succeeded"], first.counts["invalid"]) == (1, 1)

    rows[1]["Email"] = "b@example.com"
    write_csv(path, rows, ("contact_id", "Email"))
    with pytest.raises(LedgerMismatchError, match="after editing the file: add --force"):
        await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger,
                        template="Callback")  # fmt: skip
    again = await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger,
                            template="Callback", force=True)  # fmt: skip
    assert (again.counts["succeeded"], again.sent) == (2, 1)
    assert emulator.stats()["requests"]["UpdateContact"] == {"200": 2}
    assert _by_id(emulator)[ids[1]]["References"]["Email"]["Value"] == "b@example.com"
    write_csv(path, rows[1:], ("contact_id", "Email"))  # a row taken out: said, not forgotten
    fewer = await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger,
                            template="Callback", force=True)  # fmt: skip
    assert (fewer.sent, fewer.absent) == (0, 1)

    with pytest.raises(LedgerMismatchError):
        await _contacts(make_settings, "update", ContactSource(file=str(path)), ledger,
                        template="Follow-up")  # fmt: skip
