"""The command-line entry points exist and answer --help and --version."""

import subprocess
import sys

import click
from click.testing import CliRunner

from taskloader import __version__
from taskloader.cli import main


def test_version_matches_package_metadata() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    assert __version__ != "0.0.0"


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "taskloader", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout


def test_emulator_version_names_the_model_it_serves() -> None:
    import botocore

    result = CliRunner().invoke(main, ["emulator", "--version"])
    assert result.exit_code == 0, result.output
    assert f"botocore {botocore.__version__}" in result.output
    assert "service-2.json" in result.output


def test_every_setting_has_a_flag_on_run_that_reaches_the_settings() -> None:
    """README: every setting has a flag `--<name>`. Walk the Settings fields against `run`'s
    options, then give each flag a value and check it arrives in the Settings `run` builds."""
    import dataclasses
    from typing import Any
    from unittest import mock

    from taskloader.settings import Settings

    run = main.commands["run"]
    options = {p.name: p for p in run.params if isinstance(p, click.Option)}
    fields = [f for f in dataclasses.fields(Settings) if f.name != "mapping"]
    missing = [f.name for f in fields if f.name not in options]
    assert missing == []
    for f in fields:
        assert f"--{f.name.replace('_', '-')}" in options[f.name].opts, f.name

    seen: dict[str, Any] = {}

    async def capture(location: str, settings: Settings, **_: Any) -> Any:
        seen.update({f.name: getattr(settings, f.name) for f in fields})
        raise SystemExit(0)

    values = {
        "backoff_base": "0.125", "backoff_cap": "7.5", "checkpoint_interval": "11",
        "connect_timeout": "3.5", "read_timeout": "9.5", "template_cache_ttl": "42",
    }  # fmt: skip
    args = [x for name, v in values.items() for x in (f"--{name.replace('_', '-')}", v)]
    with mock.patch("taskloader.cli.run.run_import", capture):
        result = CliRunner().invoke(main, ["run", "in.csv", "--yes", *args], env={})
    assert result.exit_code == 0, result.output
    assert {name: seen[name] for name in values} == {n: float(v) for n, v in values.items()}
