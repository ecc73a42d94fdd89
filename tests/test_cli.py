"""The command-line entry points exist and answer --help and --version."""

import subprocess
import sys

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
