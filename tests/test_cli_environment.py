"""The environment a platform team sets up: AWS_REGION, instance ARNs, stray TASKLOADER_*
variables, ids with blanks, and wrong AWS configuration (exit 2), through the real command line
against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from taskloader.cli import main
from tests.conftest import EmulatorHandle


def templates_list(emulator: EmulatorHandle, *args: str, instance: str | None = None) -> Any:
    argv = ["templates", "list", "--format", "json", "--endpoint-url", emulator.url]
    argv += ["--instance-id", instance or emulator.instance_id, *args]
    return CliRunner().invoke(main, argv)


def test_aws_region_alone_is_enough(emulator: EmulatorHandle, monkeypatch: Any) -> None:
    """The README says AWS_REGION; botocore alone reads only AWS_DEFAULT_REGION."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    result = templates_list(emulator)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_no_region_at_all_is_a_usage_error(emulator: EmulatorHandle, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    result = templates_list(emulator)
    assert result.exit_code == 2
    assert "AWS_REGION" in result.stderr


def test_an_invalid_region_is_a_usage_error(emulator: EmulatorHandle) -> None:
    result = templates_list(emulator, "--region", "us east 1")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_an_arn_in_another_region_than_the_flag_is_refused(emulator: EmulatorHandle) -> None:
    arn = f"arn:aws:connect:eu-west-2:111122223333:instance/{emulator.instance_id}"
    result = templates_list(emulator, "--region", "us-east-1", instance=arn)
    assert result.exit_code == 2
    assert "eu-west-2" in result.stderr and "us-east-1" in result.stderr


def test_stray_taskloader_variables_and_blanks_around_the_id_are_harmless(
    emulator: EmulatorHandle, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TASKLOADER_ENV", "prod")
    monkeypatch.setenv("TASKLOADER_VENV", "/opt/venv")
    monkeypatch.setenv("TASKLOADER_INSTANCE_ID", f"  {emulator.instance_id}\n")
    argv = ["templates", "list", "--format", "json", "--endpoint-url", emulator.url]
    result = CliRunner().invoke(main, [*argv, "--log-level", "debug", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    notes = [json.loads(line) for line in result.output.splitlines() if "env_ignored" in line]
    assert notes and notes[0]["variables"] == ["TASKLOADER_ENV", "TASKLOADER_VENV"]


@pytest.mark.parametrize("flag", ["--encoding", "--timezone", "--date-format"])
def test_reading_flags_exist_on_validate_and_run(flag: str) -> None:
    for command in ("validate", "run"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert flag in result.output
