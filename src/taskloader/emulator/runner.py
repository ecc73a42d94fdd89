"""Starting and stopping the emulator: in the current event loop, or in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from taskloader.emulator.admin import PRELOAD_KEY
from taskloader.emulator.backend import Backend
from taskloader.emulator.server import SHUTDOWN_KEY, create_app
from taskloader.emulator.settings import EmulatorSettings
from taskloader.emulator.templates_dir import preload_templates, read_template_files


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A started emulator. ``backend`` may only be touched from the emulator's event loop."""

    url: str
    host: str
    port: int
    settings: EmulatorSettings
    backend: Backend

    @property
    def instance_id(self) -> str:
        """The first instance of the world (the default world has exactly one)."""
        return next(iter(self.settings.world.instances))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def running_emulator(
    settings: EmulatorSettings | None = None,
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator until the block exits (``port=0`` picks a free port)."""
    settings = settings or EmulatorSettings()
    backend = Backend(settings)
    try:
        app = create_app(backend)
        if settings.templates_dir is not None:
            files = read_template_files(settings.templates_dir)
            app[PRELOAD_KEY].append(lambda b: preload_templates(b, files))
            preload_templates(backend, files)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        try:
            sock = _bind(settings.host, settings.port)
            site = web.SockSite(runner, sock)
            await site.start()
            host, port = sock.getsockname()[:2]
            url_host = f"[{host}]" if ":" in host else host
            yield RunningEmulator(f"http://{url_host}:{port}", host, port, settings, backend)
        finally:
            app[SHUTDOWN_KEY].set()  # release hanging requests
            await runner.cleanup()
    finally:
        backend.close()


class EmulatorThread:
    """Run the emulator on its own event loop in a background thread (for sync clients).

    ``with EmulatorThread(settings) as emu: boto3.client("connect", endpoint_url=emu.url)``
    """

    def __init__(self, settings: EmulatorSettings | None = None, start_timeout: float = 30.0):
        self._settings = settings or EmulatorSettings()
        self._timeout = start_timeout
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running: RunningEmulator | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> RunningEmulator:
        if self._running is None:
            raise RuntimeError("the emulator thread is not running")
        return self._running

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def instance_id(self) -> str:
        return self.running.instance_id

    def start(self) -> EmulatorThread:
        self._thread = threading.Thread(target=self._main, name="taskloader-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise RuntimeError("the emulator did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(self._timeout)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() and re-raised there
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_emulator(self._settings) as running:
            self._running = running
            self._ready.set()
            await self._stop.wait()
        self._running = None
