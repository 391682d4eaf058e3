"""A real HTTP proxy for the tests: pproxy (from PyPI) serving on 127.0.0.1 from its own event
loop in a thread of the test process, with its own counts of what went through it.

`accepted` counts the client connections the proxy took (every CONNECT tunnel or absolute-form
connection, refused ones too); `forwarded` counts, per "host:port", the connections it opened
onward to a destination (a refused client, e.g. on 407, opens none). Compared with the
emulator's own count of the connections it accepted, `forwarded` proves that every connection
the emulator saw came through the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pproxy  # type: ignore[import-untyped]
import pytest
from pproxy import server as pproxy_server

from asyncrun.emulator import ThreadedEmulator

PROXY_VARIABLES = tuple(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


def clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable in this test's environment (monkeypatch restores them after)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def unused_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class _CountingDirect(pproxy_server.ProxyDirect):  # type: ignore[misc]
    """pproxy's direct route onward, counting each connection it opens."""

    def __init__(self, counts: Counter[str], lock: threading.Lock) -> None:
        super().__init__()
        self._counts = counts
        self._lock = lock

    async def open_connection(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._counts[f"{host}:{port}"] += 1
        return await super().open_connection(host, port, *args, **kwargs)


class CountingProxy:
    """pproxy on 127.0.0.1 (see the module's docstring). `url` carries the credentials when the
    proxy asks for them."""

    def __init__(self, credentials: str | None) -> None:
        self.credentials = credentials
        self.port = 0
        self._lock = threading.Lock()
        self._accepted = 0
        self._forwarded: Counter[str] = Counter()

    @property
    def url(self) -> str:
        userinfo = f"{self.credentials}@" if self.credentials else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def accepted(self) -> int:
        with self._lock:
            return self._accepted

    def forwarded(self, destination: str) -> int:
        """Connections the proxy opened to `destination` ("host:port")."""
        with self._lock:
            return self._forwarded[destination]

    async def start(self) -> Any:
        auth = f"#{self.credentials}" if self.credentials else ""
        listen = pproxy.Server(f"http://127.0.0.1:0{auth}")
        args = {
            "rserver": [_CountingDirect(self._forwarded, self._lock)],
            "authtime": 0,  # pproxy would otherwise remember an address that once logged in
            "httpget": {},
            "block": None,
            "salgorithm": "fa",
            "debug": 0,
        }

        async def handler(reader: Any, writer: Any, **kwargs: Any) -> None:
            with self._lock:
                self._accepted += 1
            await pproxy_server.stream_handler(reader, writer, **kwargs)

        server = await listen.start_server(args, stream_handler=handler)
        self.port = server.sockets[0].getsockname()[1]
        return server


def through(proxy: CountingProxy, emu: ThreadedEmulator) -> int:
    """Connections the emulator accepted, each checked to have come through the proxy."""
    opened: int = emu.stats()["connections"]["opened"]
    assert proxy.forwarded(f"127.0.0.1:{emu.port}") == opened
    return opened


@contextlib.contextmanager
def serving_proxy(credentials: str | None = None) -> Iterator[CountingProxy]:
    """A CountingProxy on a free port; `credentials` ("user:password") makes it ask for them
    (407 otherwise)."""
    loop = asyncio.new_event_loop()
    proxy = CountingProxy(credentials)
    thread = threading.Thread(target=loop.run_forever, name="pproxy", daemon=True)
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=30)
        try:
            yield proxy
        finally:

            async def stop() -> None:
                server.close()
                await server.wait_closed()
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
