"""Running the emulator: `serve()` in the current loop, `serve_in_thread()` for sync clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from asyncrun.emulator.app import build_app
from asyncrun.emulator.config import EmulatorConfig
from asyncrun.emulator.connections import CountingSite
from asyncrun.emulator.latency import proxy_process
from asyncrun.emulator.state import EmulatorState
from asyncrun.emulator.tls import server_tls

T = TypeVar("T")

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0


class Emulator:
    """A running emulator: its base URL and its state (for stats and test hooks).

    `url` is what clients use: through the latency proxy when there is one, https when TLS is
    on. `ca_pem` and `ca_file` hold the CA the emulator made for TLS (None without TLS, or
    with a certificate of the user's).
    """

    def __init__(
        self,
        state: EmulatorState,
        host: str,
        port: int,
        *,
        url: str | None = None,
        ca_pem: bytes | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.state = state
        self.host = host
        self.port = port
        scheme = "https" if state.config.tls else "http"
        self.server_url = f"{scheme}://{_url_host(host)}:{port}"
        self.url = url if url is not None else self.server_url
        self.ca_pem = ca_pem
        self.ca_file = ca_file

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def stats(self) -> dict[str, Any]:
        """The same dict as GET /_emulator/stats, less the latency proxy's own counters."""
        return self.state.snapshot()

    def reset_stats(self) -> None:
        self.state.reset_stats()

    def runs(self) -> list[dict[str, Any]]:
        """The same list as GET /_emulator/runs: every run with real start and end times."""
        return self.state.run_timeline(time.monotonic())

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r})"


@contextlib.asynccontextmanager
async def serve(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Emulator]:
    """Serve the emulator on host:port (port 0: a free one) until the block exits.

    With `config.rtt_ms`, the latency proxy listens on `port` and the server on a free port.
    """
    config = config if config is not None else EmulatorConfig()
    tls = server_tls(host, config.tls_cert, config.tls_key) if config.tls else None
    state = EmulatorState(config)
    runner = web.AppRunner(
        build_app(config, state), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(state.aclose)
        stack.push_async_callback(runner.cleanup)
        await runner.setup()
        site = CountingSite(
            runner,
            host,
            0 if config.rtt_ms else port,
            ssl_context=tls.context if tls else None,
            stats=state.connections,
        )
        await site.start()
        bound = _bound_port(runner)
        url = None
        if config.rtt_ms:
            state.proxy = await stack.enter_async_context(
                proxy_process((host, bound), config.rtt_ms / 1000, host=host, port=port)
            )
            scheme = "https" if config.tls else "http"
            url = f"{scheme}://{_url_host(state.proxy.host)}:{state.proxy.port}"
        ca_pem = tls.ca_pem if tls else None
        ca_file = _write_ca(stack, ca_pem) if ca_pem else None
        yield Emulator(state, host, bound, url=url, ca_pem=ca_pem, ca_file=ca_file)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _write_ca(stack: contextlib.AsyncExitStack, ca_pem: bytes) -> Path:
    """The CA certificate in a file of its own (for REQUESTS_CA_BUNDLE), deleted on exit."""
    folder = Path(tempfile.mkdtemp(prefix="asyncrun-emulator-ca-"))
    stack.callback(shutil.rmtree, folder, True)
    path = folder / "ca.pem"
    path.write_bytes(ca_pem)
    return path


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the emulator is not bound to a TCP port")


class ThreadedEmulator(Emulator):
    """An emulator serving from its own event loop in a daemon thread."""

    def __init__(self, inner: Emulator, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            inner.state,
            inner.host,
            inner.port,
            url=inner.url,
            ca_pem=inner.ca_pem,
            ca_file=inner.ca_file,
        )
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
            self.state.reset_stats()

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
