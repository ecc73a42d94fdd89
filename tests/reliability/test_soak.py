"""Shortened reliability soak: real `taskloader run` and emulator processes, SIGKILLs and faults.

The full-size runs are ``scripts/reliability/soak.py`` (figures in docs/reliability.md); these are
the same scenarios with fewer rows, so they fit the test suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "reliability"))

import soak

pytestmark = pytest.mark.slow


def _assert_guarantees(result: dict) -> None:
    assert result["rows_lost"] == 0
    assert result["rows_twice"] == 0
    assert result["ledger_rows"] == result["rows"]
    assert result["by_status"] == {"succeeded": result["rows"]}
    assert result["contact_ids_equal"], result["problems"]
    assert result["emulator_contacts"] == result["rows"]
    assert result["duplicate_tokens_stat"] == 0
    assert result["tokens_with_several_contacts"] == 0
    assert result["final_exit_code"] == 0
    assert result["ok"], result["problems"]


def test_sigkilled_runs_resume_without_loss_or_duplicates(tmp_path: Path) -> None:
    """Three SIGKILLs of `taskloader run` under 429/500/drop faults, resumed to exit 0."""
    result = soak.crash(tmp_path, rows=400, kills=3, seed=7, window=(0.6, 1.6))
    assert result["kills"] == 3
    _assert_guarantees(result)


def test_emulator_killed_and_restarted_with_state_mid_run(tmp_path: Path) -> None:
    """The emulator dies (SIGKILL) and comes back with --state; the run rides it out."""
    result = soak.restart(tmp_path, rows=500, restarts=1, seed=3, window=(1.5, 2.0))
    assert result["restarts"] == 1
    _assert_guarantees(result)


def test_active_task_quota_pauses_and_resumes(tmp_path: Path) -> None:
    """Limit 30 active tasks, 1 s lifetime: 60 rows need at least one pause, all succeed."""
    result = soak.quota(tmp_path, rows=60, seed=5, limit=30, lifetime=1.0)
    assert result["emulator_requests"].get("402", 0) > 0  # the quota was really hit
    _assert_guarantees(result)


def test_hung_requests_time_out_and_the_run_ends(tmp_path: Path) -> None:
    """5% of requests hang; a 1 s read timeout frees the sender and the row is retried."""
    result = soak.hang(tmp_path, rows=200, seed=9, probability=0.05, read_timeout=1.0)
    assert result["hung"] > 0
    _assert_guarantees(result)
