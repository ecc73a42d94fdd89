"""Starting the emulator: the CLI subprocess, the in-process API, config files, the state file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.emulator import (
    DEFAULT_INSTANCE_ID,
    EmulatorSettings,
    EmulatorThread,
    load_settings,
    running_emulator,
)
from taskloader.errors import UsageError
from tests.conftest import NO_RETRIES, REGION
from tests.emulator.conftest import TEMPLATES_DIR

ROOT = Path(__file__).resolve().parents[2]
TASKLOADER = Path(sys.executable).parent / "taskloader"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_cli_prints_its_url_first_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`taskloader emulator --port 0`: first stdout line is the URL; SIGTERM stops it cleanly."""
    proc = subprocess.Popen(
        [str(TASKLOADER), "emulator", "--port", "0", "--templates", str(TEMPLATES_DIR),
         "--rate-limit", "StartTaskContact=1/1", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert int(url.rsplit(":", 1)[1]) > 0
        config = get_json(f"{url}/_emulator/config")
        assert config["quotas"]["StartTaskContact"] == {"rate": 1.0, "burst": 1}
        assert config["seed"] == 3
        assert get_json(f"{url}/_emulator/stats")["templates"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_cli_reports_a_bad_config_as_a_usage_error(tmp_path: Path) -> None:
    """A config file that does not parse -> exit code 2 with the file named."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["emulator", "--config", str(bad)])
    assert result.exit_code == 2
    assert "bad.toml" in result.output


def test_example_config_loads() -> None:
    """config/emulator.example.toml builds a two-instance world with its limits and quotas."""
    settings = load_settings(ROOT / "config" / "emulator.example.toml")
    assert len(settings.world.instances) == 2
    assert DEFAULT_INSTANCE_ID in settings.world.instances
    assert settings.task_lifetime_s == 600
    assert settings.schedule_horizon_s == 6 * 86400
    assert settings.seed == 42
    assert "AKIDDENIEDEXAMPLE" in settings.world.denied_access_keys


@pytest.mark.parametrize(
    "text",
    [
        "[faults]\nthrottle = 1.5\n",
        "[quotas]\nNoSuchOperation = { rate = 1, burst = 1 }\n",
        "[[world.instances]]\ncontact_flows = []\n",
        "[limits]\nactive_task_limit = 'lots'\n",
    ],
)
def test_bad_config_values_are_usage_errors(tmp_path: Path, text: str) -> None:
    """Invalid settings in a config file -> UsageError naming the file."""
    path = tmp_path / "emu.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"emu\.toml"):
        load_settings(path)


async def test_running_emulator_in_process_on_a_free_port() -> None:
    """`async with running_emulator(...)` serves on a free port and stops on exit."""
    settings = EmulatorSettings(templates_dir=TEMPLATES_DIR).without_limits()
    async with running_emulator(settings) as emu:
        assert emu.port > 0 and emu.url == f"http://127.0.0.1:{emu.port}"
        assert emu.instance_id == DEFAULT_INSTANCE_ID
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{emu.url}/_emulator/world") as resp,
        ):
            assert (await resp.json())["instances"][0]["id"] == DEFAULT_INSTANCE_ID
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(f"{emu.url}/_emulator/stats"):
            pass


def test_preloaded_templates_come_back_after_reset() -> None:
    """--templates: files are created at start, keep their ids, and return after a reset."""
    with EmulatorThread(EmulatorSettings(templates_dir=TEMPLATES_DIR).without_limits()) as emu:
        client = boto3.client(
            "connect", region_name=REGION, endpoint_url=emu.url, config=NO_RETRIES
        )
        names = {
            t["Name"]
            for t in client.list_task_templates(InstanceId=emu.instance_id)["TaskTemplates"]
        }
        assert names == {"Callback", "Follow-up", "Back-office review"}
        request = urllib.request.Request(
            f"{emu.url}/_emulator/reset", data=b"{}", method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=10).close()
        got = client.get_task_template(
            InstanceId=emu.instance_id, TaskTemplateId="aaaaaaaa-0000-4000-8000-000000000001"
        )
        assert got["Name"] == "Callback"


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    """--state: templates and contacts (and their ClientTokens) outlive the process."""
    state = tmp_path / "emulator.sqlite"
    settings = EmulatorSettings(state_path=state).without_limits()
    with EmulatorThread(settings) as emu:
        client = boto3.client(
            "connect", region_name=REGION, endpoint_url=emu.url, config=NO_RETRIES
        )
        iid = emu.instance_id
        tid = client.create_task_template(InstanceId=iid, Name="Kept", Fields=[])["Id"]
        client.update_task_template(InstanceId=iid, TaskTemplateId=tid, Name="Kept v2")
        cid = client.start_task_contact(
            InstanceId=iid, Name="kept", TaskTemplateId=tid,
            ContactFlowId="22222222-2222-4222-8222-000000000001", ClientToken="tok",
        )["ContactId"]  # fmt: skip
    assert state.exists()
    with EmulatorThread(settings) as emu:
        client = boto3.client(
            "connect", region_name=REGION, endpoint_url=emu.url, config=NO_RETRIES
        )
        got = client.get_task_template(InstanceId=iid, TaskTemplateId=tid, SnapshotVersion="1")
        assert got["Name"] == "Kept"
        contact = client.describe_contact(InstanceId=iid, ContactId=cid)["Contact"]
        assert contact["TaskTemplateInfo"]["Name"] == "Kept v2"
        again = client.start_task_contact(
            InstanceId=iid, Name="kept", TaskTemplateId=tid,
            ContactFlowId="22222222-2222-4222-8222-000000000001", ClientToken="tok",
        )["ContactId"]  # fmt: skip
        assert again == cid
        stats = get_json(f"{emu.url}/_emulator/stats")
        assert stats["active_tasks"] == 1
        assert stats["idempotent_replays"] == 1


def test_cli_port_in_use_is_reported(tmp_path: Path) -> None:
    """Binding a port that is taken -> a clear error, exit code 1, no traceback."""
    with EmulatorThread(EmulatorSettings().without_limits()) as emu:
        proc = subprocess.run(
            [str(TASKLOADER), "emulator", "--port", str(emu.running.port)],
            capture_output=True, text=True, timeout=30,
            env={**os.environ}, check=False,
        )  # fmt: skip
    assert proc.returncode == 1
    assert "cannot start the emulator" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_request_begun_before_a_reset_changes_nothing_after_it(emulator: Any) -> None:
    """A create sleeping in injected latency when the suite resets the emulator (its client was
    killed, say) must not land in the state the next test starts from."""
    emulator.configure(faults={"latency_ms": 1500.0})
    client = boto3.client(
        "connect", region_name=REGION, endpoint_url=emulator.url, config=NO_RETRIES
    )
    outcome: list[object] = []

    def create() -> None:
        try:
            outcome.append(
                client.create_task_template(
                    InstanceId=emulator.instance_id,
                    Name="Begun before the reset",
                    Fields=[{"Id": {"Name": "Task name"}, "Type": "NAME"}],
                )
            )
        except Exception as exc:  # the emulator closes the connection: any SDK error will do
            outcome.append(exc)

    worker = threading.Thread(target=create)
    worker.start()
    deadline = time.monotonic() + 10
    while not emulator.stats()["requests_by_access_key"]:  # counted before the latency
        assert time.monotonic() < deadline, "the create never reached the emulator"
        time.sleep(0.02)
    emulator.reset()
    worker.join(timeout=30)
    assert outcome and isinstance(outcome[0], Exception)
    assert emulator.stats()["requests"].get("CreateTaskTemplate", {}) == {}
    listed = boto3.client(
        "connect", region_name=REGION, endpoint_url=emulator.url, config=NO_RETRIES
    ).list_task_templates(InstanceId=emulator.instance_id)["TaskTemplates"]
    assert listed == []


async def test_a_hung_request_that_outlives_a_reset_is_counted_nowhere() -> None:
    """A request held by a "hang" fault (its client gone) ends after the suite reset the
    emulator: it must not show up as "hung" in the next test's counters."""
    settings = replace(EmulatorSettings().without_limits(), hang_max_s=1.0)
    async with running_emulator(settings) as emu, aiohttp.ClientSession() as session:

        async def post(path: str, body: dict[str, Any]) -> Any:
            async with session.post(f"{emu.url}{path}", json=body) as resp:
                return await resp.json()

        async def stats() -> Any:
            async with session.get(f"{emu.url}/_emulator/stats") as resp:
                return await resp.json()

        await post("/_emulator/config", {"faults": {"hang": 1.0}})
        client = boto3.client(
            "connect", region_name=REGION, endpoint_url=emu.url,
            config=NO_RETRIES.merge(Config(read_timeout=0.3)),
        )  # fmt: skip
        with pytest.raises(Exception, match=r"[Rr]ead timeout|timed out"):
            await anyio.to_thread.run_sync(
                lambda: client.list_task_templates(InstanceId=emu.instance_id)
            )
        await post("/_emulator/reset", {"settings": True})
        await anyio.sleep(1.5)  # the hang is over: the request ended after the reset
        assert (await stats())["requests"] == {}
