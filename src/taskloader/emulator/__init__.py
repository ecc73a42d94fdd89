"""A local Amazon Connect task-API emulator speaking Connect's REST-JSON wire protocol.

    async with running_emulator(EmulatorSettings()) as emu:      # in the current event loop
        ...  # endpoint_url=emu.url

    with EmulatorThread(EmulatorSettings()) as emu:              # in a background thread
        ...  # boto3 / AWS CLI with --endpoint-url emu.url

See docs/emulator.md for the wire contract, the /_emulator/ endpoints and the config format.
"""

from taskloader.emulator.runner import EmulatorThread, RunningEmulator, running_emulator
from taskloader.emulator.settings import (
    DEFAULT_QUOTAS,
    EmulatorSettings,
    FaultSettings,
    Quota,
    load_settings,
)
from taskloader.emulator.world import DEFAULT_INSTANCE_ID, Instance, World, default_world

__all__ = [
    "DEFAULT_INSTANCE_ID",
    "DEFAULT_QUOTAS",
    "EmulatorSettings",
    "EmulatorThread",
    "FaultSettings",
    "Instance",
    "Quota",
    "RunningEmulator",
    "World",
    "default_world",
    "load_settings",
    "running_emulator",
]
