"""Every retry class over HTTP: transient faults retried to success, permanent errors fail the
row with the API's code, fatal errors stop the run (exit 4), and the error budget."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskloader.emulator import EmulatorSettings, EmulatorThread
from taskloader.emulator.world import default_world
from taskloader.run.pipeline import run_import
from tests.conftest import REGION, EmulatorHandle
from tests.run.conftest import (
    COLUMNS,
    MISSING_FLOW,
    Run,
    contact_pairs,
    emulator_args,
    ledger_counts,
    ledger_records,
    read_csv,
    run_cli,
    start_requests,
    succeeded_pairs,
    task_rows,
    write_csv,
)


async def test_500_and_503_are_retried_to_success_and_every_attempt_counted(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """With 500s and 503s injected, every row still ends succeeded, once; every request the
    emulator saw is an attempt taskloader counted (ledger attempts, summary.json retries)."""
    emulator.configure(faults={"error_500": 0.2, "error_503": 0.2}, seed=11)
    path = write_csv(tmp_path / "tasks.csv", task_rows(60))

    # 12 attempts: a row gives up with probability 0.4^12 (60 rows: 1 run in 1,000); with the
    # default 8 it was 1 in 25, decided by which row the seeded draws land on (arrival order).
    report = await run(path, max_attempts=12)

    assert report.exit_code == 0
    assert report.counts["succeeded"] == 60
    stats = emulator.stats()
    assert stats["duplicate_tokens"] == 0
    assert stats["contacts_created"] == 60
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
    requests = start_requests(emulator)
    assert requests["500"] > 0 and requests["503"] > 0
    assert sum(requests.values()) == report.stats["requests"]
    assert report.stats["retries"] == sum(requests.values()) - 60
    summary = json.loads((Path(report.out_dir) / "summary.json").read_text())
    assert summary["stats"]["retries"] == report.stats["retries"] > 0
    attempts = sum(r.attempts for r in ledger_records(Path(report.ledger)))
    assert attempts == sum(requests.values())


async def test_dropped_connections_are_retried_to_success(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Connections closed without an answer are retried with the same token: every row
    succeeds and no token created two contacts."""
    emulator.configure(faults={"drop": 0.3}, seed=5)
    path = write_csv(tmp_path / "tasks.csv", task_rows(40))

    report = await run(path)

    assert report.exit_code == 0
    assert report.counts["succeeded"] == 40
    assert start_requests(emulator)["dropped"] > 0
    assert emulator.stats()["duplicate_tokens"] == 0
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
    assert report.stats["retries"] > 0


@pytest.mark.xfail(
    strict=True,
    reason="aiohttp >= 3.12 silently re-sends a PUT once when a reused keep-alive connection "
    "is closed (ClientSession._retry_connection); StartTaskContact is a PUT, so some dropped "
    "attempts are re-sent unpaced and uncounted below botocore and taskloader",
)
async def test_every_dropped_attempt_is_one_counted_request(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Each request the emulator saw, dropped ones included, is an attempt taskloader counted
    and paced (no hidden retry layer under taskloader's own)."""
    emulator.configure(faults={"drop": 0.3}, seed=5)
    path = write_csv(tmp_path / "tasks.csv", task_rows(40))

    report = await run(path)

    assert report.exit_code == 0
    assert sum(start_requests(emulator).values()) == report.stats["requests"]


async def test_a_row_that_keeps_failing_transiently_gives_up_after_max_attempts(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Every call a 503: each row is failed after exactly max_attempts calls."""
    emulator.configure(faults={"error_503": 1.0})
    path = write_csv(tmp_path / "tasks.csv", task_rows(3))

    report = await run(path, max_attempts=3)

    assert report.exit_code == 1
    assert report.counts["failed"] == 3
    assert start_requests(emulator) == {"503": 9}
    for rec in ledger_records(Path(report.ledger)):
        assert rec.attempts == 3
        assert rec.error_code == "ServiceUnavailableException"
        assert rec.error_message is not None and "gave up after 3 attempts" in rec.error_message


async def test_permanent_errors_fail_only_their_row_with_the_api_code(
    run: Run, emulator: EmulatorHandle, connect_client: Any, tmp_path: Path
) -> None:
    """Errors the validator cannot see fail their row after one call, with the API's code:
    a flow the instance lacks, a previous contact that does not exist, a 13th task on a
    previous contact (not a quota pause), a ScheduledTime beyond the service's horizon."""
    chain = connect_client.start_task_contact(
        InstanceId=emulator.instance_id, ContactFlowId=task_rows(1)[0]["contact_flow_id"],
        Name="chain head",
    )["ContactId"]  # fmt: skip
    for n in range(12):
        connect_client.start_task_contact(
            InstanceId=emulator.instance_id, ContactFlowId=task_rows(1)[0]["contact_flow_id"],
            Name=f"link {n}", PreviousContactId=chain,
        )  # fmt: skip
    emulator.configure(schedule_horizon_s=3600)
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    rows = task_rows(10)
    rows[2]["contact_flow_id"] = MISSING_FLOW
    rows[4] = {**rows[4], "previous_contact_id": "99999999-9999-4999-8999-999999999999"}
    rows[6] = {**rows[6], "previous_contact_id": chain}
    rows[8] = {**rows[8], "scheduled_time": soon}
    columns = (*COLUMNS, "previous_contact_id", "scheduled_time")
    path = write_csv(tmp_path / "tasks.csv", rows, columns)
    before = start_requests(emulator)

    report = await run(path)

    assert report.exit_code == 1
    assert report.counts["succeeded"] == 6
    assert report.counts["failed"] == 4
    failed = {r.key: r for r in ledger_records(Path(report.ledger)) if r.status.value == "failed"}
    assert {k: r.error_code for k, r in failed.items()} == {
        "r2": "ResourceNotFoundException",
        "r4": "ResourceNotFoundException",
        "r6": "ServiceQuotaExceededException",
        "r8": "InvalidParameterException",
    }
    assert all(r.attempts == 1 for r in failed.values())
    # One call per row: no retries of permanent errors, and the quota gate never paused.
    after = start_requests(emulator)
    assert sum(after.values()) - sum(before.values()) == 10
    assert report.stats["retries"] == 0
    rows_out = read_csv(Path(report.out_dir) / "failed.csv")
    assert [r["key"] for r in rows_out] == ["r2", "r4", "r6", "r8"]
    assert rows_out[0]["taskloader.error_code"] == "ResourceNotFoundException"
    assert "was not found" in rows_out[0]["taskloader.message"]


@pytest.mark.parametrize("with_template", [False, True], ids=["flow-rows", "template-rows"])
async def test_unknown_instance_is_fatal_at_once(
    run: Run,
    emulator: EmulatorHandle,
    templates: dict[str, str],
    tmp_path: Path,
    with_template: bool,
) -> None:
    """An instance id the account does not have stops the run at its first call: exit 4 with
    the API's message, no contact, whether or not rows need templates; every row is left
    unprocessed and a rerun with the right instance completes the ledger."""
    rows: list[dict[str, str]] = task_rows(40)
    columns: tuple[str, ...] = COLUMNS
    if with_template:
        for row in rows:
            row.update({"template": "Follow-up", "Ticket": "https://example.com/t"})
        columns = (*COLUMNS, "template", "Ticket")
    path = write_csv(tmp_path / "tasks.csv", rows, columns)
    missing = "99999999-1111-4111-8111-111111111111"

    code, proc = run_cli(
        [str(path), *emulator_args(emulator), "--instance-id", missing,
         "--ledger", str(tmp_path / "out" / "ledger.sqlite"), "--rate", "100"],
        tmp_path / "logs",
    )  # fmt: skip

    assert code == 4, proc.stderr_text()
    output = proc.stderr_text() + proc.stdout.read_text()
    assert "Traceback" not in output
    assert f"Instance '{missing}' was not found" in output
    assert emulator.contacts() == []
    # Stopped at once: at most the calls already in flight (concurrency 4).
    assert sum(start_requests(emulator).values()) <= 4
    if not with_template:
        counts = ledger_counts(tmp_path / "out" / "ledger.sqlite")
        assert counts["succeeded"] == counts["failed"] == 0
        assert counts["unprocessed"] + counts["pending"] == 40
        # Resumable: the same ledger with the right instance sends every row.
        code, proc = run_cli(
            [str(path), *emulator_args(emulator), "--rate", "100",
             "--ledger", str(tmp_path / "out" / "ledger.sqlite")],
            tmp_path / "logs",
        )  # fmt: skip
        assert code == 0, proc.stderr_text()
        assert len(emulator.contacts()) == 40


def test_missing_credentials_are_fatal(
    emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials anywhere: exit 4 with a clear message and nothing sent."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    path = write_csv(tmp_path / "tasks.csv", task_rows(10))

    code, proc = run_cli(
        [str(path), *emulator_args(emulator), "--ledger", str(tmp_path / "l.sqlite")],
        tmp_path / "logs",
    )

    assert code == 4, proc.stderr_text()
    assert "credentials" in proc.stderr_text().lower()
    assert "Traceback" not in proc.stderr_text()
    assert start_requests(emulator) == {}


@pytest.fixture(scope="module")
def denying_emulator() -> Any:
    """An emulator whose world refuses one access key with AccessDeniedException."""
    world = replace(default_world(), denied_access_keys=frozenset({"AKIDDENIEDDENIED"}))
    settings = EmulatorSettings(world=world, seed=1).without_limits()
    with EmulatorThread(settings) as server:
        yield EmulatorHandle(server.url, server.instance_id)


def test_access_denied_is_fatal(
    denying_emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AccessDeniedException on StartTaskContact: exit 4 at once, rows left unprocessed."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDENIEDDENIED")
    path = write_csv(tmp_path / "tasks.csv", task_rows(30))
    ledger = tmp_path / "l.sqlite"

    code, proc = run_cli(
        [str(path), "--endpoint-url", denying_emulator.url, "--region", REGION,
         "--instance-id", denying_emulator.instance_id, "--ledger", str(ledger)],
        tmp_path / "logs",
    )  # fmt: skip

    assert code == 4, proc.stderr_text()
    assert "AccessDenied" in proc.stderr_text() + proc.stdout.read_text()
    counts = ledger_counts(ledger)
    assert counts["succeeded"] == 0
    assert counts["pending"] + counts["unprocessed"] == 30  # never reached, or cut short
    assert sum(start_requests(denying_emulator).values()) <= 4


async def test_error_budget_stops_sending(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """--max-failures 2 with every row failing: the run stops after the 3rd failure (plus the
    calls then in flight), exit 4, and the rest are unprocessed without being sent."""
    rows = task_rows(200, flow=MISSING_FLOW)
    path = write_csv(tmp_path / "tasks.csv", rows)
    concurrency = 4

    report = await run(path, max_failures=2, concurrency=concurrency, rate=200.0, burst=10)

    assert report.exit_code == 4
    assert report.stop_reason == "error_budget"
    counts = report.counts
    assert 3 <= counts["failed"] <= 3 + concurrency
    left = counts["pending"] + counts["unprocessed"]  # never reached, or cut short
    assert left == 200 - counts["failed"]
    assert sum(start_requests(emulator).values()) == counts["failed"]
    unprocessed = read_csv(Path(report.out_dir) / "unprocessed.csv")
    assert len(unprocessed) == left
    assert unprocessed[-1]["key"] == "r199"


async def test_failure_rate_budget(run: Run, emulator: EmulatorHandle, tmp_path: Path) -> None:
    """--max-failure-rate 0.2 with half the rows failing: stops after the 20-send sample."""
    rows = task_rows(200)
    for row in rows[::2]:
        row["contact_flow_id"] = MISSING_FLOW
    path = write_csv(tmp_path / "tasks.csv", rows)

    report = await run(path, max_failure_rate=0.2, concurrency=4, rate=200.0, burst=10)

    assert report.exit_code == 4
    assert report.stop_reason == "error_budget"
    sent = report.counts["failed"] + report.counts["succeeded"]
    assert 20 <= sent <= 20 + 4 + 1
    assert report.counts["pending"] + report.counts["unprocessed"] == 200 - sent


async def test_the_row_deadline_bounds_retrying(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A row answered 503 forever gives up when its --row-deadline is spent, long before
    --max-attempts, and is failed with the last error."""
    emulator.configure(faults={"error_503": 1.0})
    path = write_csv(tmp_path / "tasks.csv", task_rows(2))

    report = await run(path, max_attempts=1000, row_deadline=0.3, backoff_base=0.05,
                       backoff_cap=0.1)  # fmt: skip

    assert report.exit_code == 1
    assert report.counts["failed"] == 2
    for rec in ledger_records(Path(report.ledger)):
        assert rec.error_code == "ServiceUnavailableException"
        assert 2 <= rec.attempts < 100
    assert sum(start_requests(emulator).values()) == sum(
        r.attempts for r in ledger_records(Path(report.ledger))
    )


async def test_a_call_that_times_out_is_retried_with_the_same_token(
    emulator_process: EmulatorHandle, make_settings: Any, tmp_path: Path
) -> None:
    """Calls that never get an answer time out (--read-timeout) and are retried; every row
    ends succeeded with one contact."""
    emulator = emulator_process
    emulator.configure(faults={"hang": 0.2}, seed=3)
    path = write_csv(tmp_path / "tasks.csv", task_rows(20))
    settings = make_settings(endpoint_url=emulator.url, read_timeout=0.3)

    report = await run_import(str(path), settings, tty=False)

    assert report.exit_code == 0
    stats = emulator.stats()
    assert stats["faults"]["hang"] > 0
    assert stats["contacts_created"] == 20
    assert stats["duplicate_tokens"] == 0
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
    assert report.stats["retries"] >= stats["faults"]["hang"]


async def test_a_default_error_budget_stops_a_file_of_failing_rows(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """No budget flags: a file whose every row fails at the API stops after 50 failed rows in a
    row (plus the calls then in flight), exit 4; the emulator saw only those calls, and the
    rest is left unprocessed, never sent."""
    rows = task_rows(400, flow=MISSING_FLOW)
    path = write_csv(tmp_path / "tasks.csv", rows)
    concurrency = 4

    report = await run(path, concurrency=concurrency, rate=200.0, burst=10)

    assert report.exit_code == 4
    assert report.stop_reason == "error_budget"
    assert "50 rows in a row failed" in (report.stop_detail or "")
    failed = report.counts["failed"]
    assert 50 <= failed <= 50 + concurrency
    assert sum(start_requests(emulator).values()) == failed
    assert emulator.stats()["contacts_created"] == 0
    assert report.counts["pending"] + report.counts["unprocessed"] == 400 - failed


async def test_scattered_failures_do_not_trip_the_default_budget(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    rows = task_rows(120)
    for row in rows[::2]:
        row["contact_flow_id"] = MISSING_FLOW
    path = write_csv(tmp_path / "tasks.csv", rows)

    report = await run(path, concurrency=4, rate=200.0, burst=10)

    assert report.exit_code == 1
    assert report.stop_reason is None
    assert report.counts["failed"] == report.counts["succeeded"] == 60
    assert emulator.stats()["contacts_created"] == 60
