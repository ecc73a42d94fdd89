"""Installed, not cloned: the wheel carries the demo's data, so `taskloader demo` works from a
fresh virtualenv outside the repository (as after `pip install .` or in the container image)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_runs_from_a_wheel_installed_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-q", "-w", str(dist), str(ROOT)], check=True, timeout=240)
    (wheel,) = dist.glob("taskloader-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "taskloader/examples/demo/callbacks.csv" in names
    assert "taskloader/examples/templates/callback.json" in names

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run([*install, "--no-deps", "--no-index", str(wheel)], check=True, timeout=120)

    # The dependencies come from this environment's site-packages, on PYTHONPATH: a .pth file
    # there (this checkout's editable install) is not read, so only the wheel's taskloader is
    # importable.
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
    }
    where = subprocess.run(
        [str(python), "-c", "import taskloader; print(taskloader.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where).resolve().is_relative_to(venv.resolve())

    demo = subprocess.run(
        [
            str(python),
            "-m",
            "taskloader",
            "demo",
            "--out",
            "out",
            "--throttle",
            "0",
            "--log-format",
            "json",
            "--log-level",
            "warning",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    (ledger,) = (work / "out").glob("run-*/ledger.sqlite")
    with sqlite3.connect(ledger) as db:
        counts = dict(db.execute("SELECT status, count(*) FROM records GROUP BY status"))
    assert counts == {"succeeded": 292, "invalid": 8}  # the demo's 8 rows are bad on purpose
    assert "Imported 292 tasks" in demo.stdout
