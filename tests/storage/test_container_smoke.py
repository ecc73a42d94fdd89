"""The container entrypoint, run as the container would: env-only config, S3 in and out."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "smoke_container.py"


def test_container_smoke_script_passes_every_check() -> None:
    """SIGTERM -> exit 3 with an S3 checkpoint, lock -> exit 2, restart resumes to exit 1."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "240"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "smoke: passed" in proc.stdout
    assert "FAIL" not in proc.stdout
