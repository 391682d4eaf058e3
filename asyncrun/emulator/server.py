"""Running the emulator: `serve()` in the current loop, `serve_in_thread()` for sync clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from aiohttp import web

from asyncrun.emulator.app import build_app
from asyncrun.emulator.config import EmulatorConfig
from asyncrun.emulator.state import EmulatorState

T = TypeVar("T")

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0


class Emulator:
    """A running emulator: its base URL and its state (for stats and test hooks)."""

    def __init__(self, state: EmulatorState, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def stats(self) -> dict[str, Any]:
        """The same dict as GET /_emulator/stats."""
        return self.state.snapshot()

    def reset_stats(self) -> None:
        self.state.stats.reset()

    def runs(self) -> list[dict[str, Any]]:
        """The same list as GET /_emulator/runs: every run with real start and end times."""
        return self.state.run_timeline(time.monotonic())

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r})"


@contextlib.asynccontextmanager
async def serve(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Emulator]:
    """Serve the emulator on host:port (port 0: a free one) until the block exits."""
    config = config if config is not None else EmulatorConfig()
    state = EmulatorState(config)
    runner = web.AppRunner(
        build_app(config, state), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield Emulator(state, host, _bound_port(runner))
    finally:
        await runner.cleanup()
        await state.aclose()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the emulator is not bound to a TCP port")


class ThreadedEmulator(Emulator):
    """An emulator serving from its own event loop in a daemon thread."""

    def __init__(self, inner: Emulator, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(inner.state, inner.host, inner.port)
        self._loop = loop

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine function on the emulator's loop and wait for its result."""

        async def _run() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(_run(), self._loop).result(timeout)

    def stats(self) -> dict[str, Any]:
        async def _snapshot() -> dict[str, Any]:
            return self.state.snapshot()

        return self.call(_snapshot)

    def reset_stats(self) -> None:
        async def _reset() -> None:
            self.state.stats.reset()

        self.call(_reset)

    def runs(self) -> list[dict[str, Any]]:
        async def _runs() -> list[dict[str, Any]]:
            return self.state.run_timeline(time.monotonic())

        return self.call(_runs)


@contextlib.contextmanager
def serve_in_thread(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[ThreadedEmulator]:
    """serve() on its own loop in a daemon thread, for sync clients such as the official SDK."""
    ready: concurrent.futures.Future[ThreadedEmulator] = concurrent.futures.Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def _main() -> None:
        try:
            async with serve(config, host=host, port=port) as emu:
                ready.set_result(ThreadedEmulator(emu, loop))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(
        target=_run_loop, args=(loop, _main), name="asyncrun-emulator", daemon=True
    )
    thread.start()
    try:
        emulator = ready.result(_START_TIMEOUT)
    except BaseException:
        thread.join(_STOP_TIMEOUT)
        raise
    try:
        yield emulator
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(_STOP_TIMEOUT)


def _run_loop(loop: asyncio.AbstractEventLoop, main: Callable[[], Awaitable[None]]) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
