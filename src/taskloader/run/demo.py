"""`taskloader demo`: a real import against the embedded emulator, start to finish.

Starts the emulator in this process on a free port, loads the example templates, runs the
example file through the same pipeline as `taskloader run` (at an accelerated quota, with some
injected throttling so the adaptive pacing and retries show), and prints where the ledger and
the result files are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from taskloader.emulator import EmulatorSettings, FaultSettings, Quota, running_emulator
from taskloader.emulator.world import AccessKey, default_world
from taskloader.errors import UsageError
from taskloader.examples import EXAMPLES_DIR
from taskloader.run.pipeline import run_import
from taskloader.run.report import RunReport
from taskloader.settings import Settings

#: The demo's own credential: its emulator verifies every request's SigV4 signature against it,
#: as Amazon Connect would (`taskloader demo` signs with it, never with the user's keys).
DEMO_KEY = AccessKey("AKIDTASKLOADERDEMO", "taskloader-demo-secret")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    config_dir: Path = EXAMPLES_DIR  # the package's own example templates and demo input
    out_dir: Path = Path("demo-out")
    rows: Path | None = None  # default: <config_dir>/demo/callbacks.csv
    quota_rate: float = 50.0  # the default 2/s quota x 25, so a few hundred rows take seconds
    quota_burst: int = 125
    throttle: float = 0.02
    seed: int = 7


async def run_demo(options: DemoOptions, settings: Settings) -> RunReport:
    templates = options.config_dir / "templates"
    rows = options.rows or options.config_dir / "demo" / "callbacks.csv"
    if not templates.is_dir() or not rows.is_file():
        raise UsageError(
            f"demo data not found under {options.config_dir} (expected templates/ and "
            "demo/callbacks.csv); pass --config-dir"
        )
    quota = Quota(options.quota_rate, options.quota_burst)
    base = EmulatorSettings()
    world = replace(default_world(), access_keys={DEMO_KEY.access_key_id: DEMO_KEY})
    emulator_settings = replace(
        base,
        world=world,
        quotas={**base.quotas, "StartTaskContact": quota},
        faults=FaultSettings(throttle=options.throttle),
        seed=options.seed,
        templates_dir=templates,
    )
    async with running_emulator(emulator_settings) as emu:
        run_settings = replace(
            settings,
            endpoint_url=emu.url,
            profile=None,
            instance_id=emu.instance_id,
            region=settings.region or "us-east-1",
            rate=options.quota_rate,
            burst=min(settings.burst, options.quota_burst),
            concurrency=max(settings.concurrency, 8),
            backoff_base=0.05,
            backoff_cap=1.0,
            out_dir=str(options.out_dir),
            ledger=str(options.out_dir / "ledger.sqlite"),
            progress_interval=min(settings.progress_interval, 2.0),
        )
        return await run_import(str(rows), run_settings)
