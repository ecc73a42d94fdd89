"""Every exit code of `taskloader run` through the CLI, and `--dry-run` sending nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.ledger.store import Ledger
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    MISSING_FLOW,
    emulator_args,
    ledger_counts,
    run_cli,
    start_requests,
    task_rows,
    write_csv,
)

Setup = Callable[[EmulatorHandle, Path], list[str]]


def _all_valid(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    return [str(write_csv(tmp / "in.csv", task_rows(5)))]


def _one_invalid(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    rows = task_rows(5)
    rows[1]["name"] = ""
    return [str(write_csv(tmp / "in.csv", rows))]


def _bad_flag(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    return [*_all_valid(emulator, tmp), "--burst", "0"]


def _missing_file(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    return [str(tmp / "nowhere.csv")]


def _broken_jsonl(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    path = tmp / "in.jsonl"
    lines = [json.dumps(row) for row in task_rows(5)] + ["{not json"]
    path.write_text("\n".join(lines) + "\n")
    return [str(path)]


def _quota_never_drains(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    emulator.configure(active_task_limit=2)
    return [*_all_valid(emulator, tmp), "--quota-wait", "0.3"]


def _over_budget(emulator: EmulatorHandle, tmp: Path) -> list[str]:
    rows = task_rows(8, flow=MISSING_FLOW)
    return [str(write_csv(tmp / "in.csv", rows)), "--max-failures", "1", "--concurrency", "1"]


@pytest.mark.parametrize(
    ("setup", "expected", "sent"),
    [
        (_all_valid, 0, 5),
        (_one_invalid, 1, 4),
        (_bad_flag, 2, 0),
        (_missing_file, 2, 0),
        (_broken_jsonl, 2, None),
        (_quota_never_drains, 3, None),
        (_over_budget, 4, 2),
    ],
    ids=["all-succeeded", "invalid-row", "bad-flag", "missing-file", "broken-jsonl",
         "quota-wait", "error-budget"],
)  # fmt: skip
def test_exit_code(
    emulator: EmulatorHandle, tmp_path: Path, setup: Setup, expected: int, sent: int | None
) -> None:
    """`taskloader run` exits 0 all succeeded, 1 failed/invalid rows, 2 usage or file error
    (with a message, no traceback), 3 resumable, 4 aborted; the calls sent match."""
    args = setup(emulator, tmp_path)
    ledger = tmp_path / "out" / "ledger.sqlite"

    code, proc = run_cli(
        [*args, *emulator_args(emulator), "--ledger", str(ledger), "--rate", "100"],
        tmp_path / "logs",
    )

    err = proc.stderr_text()
    assert code == expected, err
    assert "Traceback" not in err
    if expected == 2:
        assert "error" in err.lower()
    if sent is not None:
        assert sum(start_requests(emulator).values()) == sent
    if expected == 3:
        counts = ledger_counts(ledger)
        assert counts["succeeded"] == 2
        assert counts["unprocessed"] == 3


@pytest.mark.parametrize("invalid", [False, True], ids=["valid", "with-invalid-row"])
def test_dry_run_sends_nothing(
    emulator: EmulatorHandle, tmp_path: Path, templates: dict[str, str], invalid: bool
) -> None:
    """`run --dry-run` validates (templates read through the API) but never calls
    StartTaskContact and writes no ledger; exit 0 or 1 like `validate`."""
    rows = [{**row, "template": "Follow-up", "Ticket": "https://example.com/t"}
            for row in task_rows(6)]  # fmt: skip
    if invalid:
        rows[3]["Ticket"] = "not a url"
    for row in rows:
        del row["contact_flow_id"]  # "Follow-up" has its own flow: only one may be given
    columns = ("key", "name", "description", "template", "Ticket")
    path = write_csv(tmp_path / "in.csv", rows, columns)
    ledger = tmp_path / "out" / "ledger.sqlite"

    code, proc = run_cli(
        [str(path), "--dry-run", *emulator_args(emulator), "--ledger", str(ledger)],
        tmp_path / "logs",
    )

    assert code == (1 if invalid else 0), proc.stderr_text()
    stats = emulator.stats()
    assert "StartTaskContact" not in stats["requests"]
    assert stats["requests"].get("ListTaskTemplates")
    assert not ledger.exists()


UNKNOWN_INSTANCE = "00000000-0000-4000-8000-000000000099"


def _valid_csv(tmp: Path) -> str:
    return str(write_csv(tmp / "in.csv", task_rows(3)))


def _invalid_csv(tmp: Path) -> str:
    rows = task_rows(3)
    rows[0]["name"] = ""
    return str(write_csv(tmp / "in.csv", rows))


def _ledger(tmp: Path, empty: bool = False) -> str:
    path = tmp / "ledger.sqlite"
    if empty:
        path.write_bytes(b"")
    else:
        Ledger.open(path, batch_id="b", input_name="x.csv", fingerprint=None, columns=()).close()
    return str(path)


def _target(emulator: EmulatorHandle, **changes: str) -> list[str]:
    args = dict(zip(emulator_args(emulator)[::2], emulator_args(emulator)[1::2], strict=True))
    args.update({f"--{k.replace('_', '-')}": v for k, v in changes.items()})
    return [x for pair in args.items() for x in pair]


Command = Callable[[EmulatorHandle, Path], list[str]]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (lambda e, t: ["validate", _valid_csv(t), *_target(e)], 0),
        (lambda e, t: ["validate", _invalid_csv(t), *_target(e)], 1),
        (lambda e, t: ["validate", str(t / "none.csv"), *_target(e)], 2),
        (lambda e, t: ["validate", _valid_csv(t), *_target(e, region="not a region!")], 2),
        (lambda e, t: ["validate", _valid_csv(t), *_target(e), "--encoding", "nope"], 2),
        (lambda e, t: ["validate", _valid_csv(t), *_target(e, instance_id=UNKNOWN_INSTANCE),
                       "--template", "Callback"], 4),
        (lambda e, t: ["templates", "list", *_target(e)], 0),
        (lambda e, t: ["templates", "list", *_target(e, region="not a region!")], 2),
        (lambda e, t: ["templates", "list", *_target(e, instance_id=UNKNOWN_INSTANCE)], 4),
        (lambda e, t: ["templates", "plan", str(t / "none"), *_target(e)], 2),
        (lambda e, t: ["templates", "validate", str(t / "none")], 2),
        (lambda e, t: ["ledger", "summary", _ledger(t)], 0),
        (lambda e, t: ["ledger", "summary", str(t / "none.sqlite")], 2),
        (lambda e, t: ["ledger", "summary", _ledger(t, empty=True)], 2),
        (lambda e, t: ["ledger", "export", _ledger(t), "--status", "failed", "--out", "-"], 0),
        (lambda e, t: ["ledger", "export", _ledger(t), "--status", "x", "--out", "-"], 2),
    ],
    ids=["validate-ok", "validate-invalid", "validate-missing-file", "validate-bad-region",
         "validate-bad-encoding", "validate-unknown-instance", "templates-ok",
         "templates-bad-region", "templates-unknown-instance", "templates-plan-no-dir",
         "templates-validate-no-dir", "ledger-ok", "ledger-missing", "ledger-damaged",
         "export-ok", "export-bad-status"],
)  # fmt: skip
def test_exit_codes_of_the_other_commands(
    emulator: EmulatorHandle, tmp_path: Path, command: Command, expected: int
) -> None:
    """`validate`, `templates` and `ledger` exit as README's table says: 0, 1 rows invalid, 2
    usage/config/file (an invalid Region is configuration), 4 a fatal API error; no traceback."""
    result = CliRunner().invoke(main, command(emulator, tmp_path))
    assert result.exit_code == expected, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
