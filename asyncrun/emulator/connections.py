"""Connections the emulator serves: counted at TCP accept and once established (after the TLS
handshake when TLS is on), and put down to a client by the User-Agent of their first request.

A client is known by the first word of its User-Agent ("asyncrun/0.1.0", "python-requests/2.32.3"):
peer addresses say nothing on loopback or behind the latency proxy, where every peer is the same.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_UNKNOWN_CLIENT = "unknown"


@dataclass
class _Connection:
    tls: bool
    client: str | None = None


class ConnectionStats:
    """Totals and per-client counts of connections, TLS handshakes and requests."""

    def __init__(self) -> None:
        self._open: dict[asyncio.BaseTransport, _Connection] = {}
        self.opened = 0
        self.tls_handshakes = 0
        self.clients: dict[str, Counter[str]] = {}

    def accepted(self) -> None:
        self.opened += 1

    def established(self, transport: asyncio.BaseTransport) -> None:
        tls = transport.get_extra_info("ssl_object") is not None
        self._open[transport] = _Connection(tls)
        if tls:
            self.tls_handshakes += 1

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self._open.pop(transport, None)

    def on_request(self, transport: asyncio.BaseTransport | None, user_agent: str | None) -> None:
        client = client_name(user_agent)
        counts = self.clients.setdefault(client, Counter())
        counts["requests"] += 1
        conn = self._open.get(transport) if transport is not None else None
        if conn is None or conn.client is not None:
            return
        conn.client = client
        counts["connections"] += 1
        if conn.tls:
            counts["tls_handshakes"] += 1

    def reset(self) -> None:
        self.opened = 0
        self.tls_handshakes = 0
        self.clients.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "tls_handshakes": self.tls_handshakes,
            "open_now": len(self._open),
            "by_client": {
                name: {key: counts[key] for key in ("connections", "tls_handshakes", "requests")}
                for name, counts in sorted(self.clients.items())
            },
        }


def client_name(user_agent: str | None) -> str:
    words = (user_agent or "").split()
    return words[0] if words else _UNKNOWN_CLIENT


class _CountedProtocol(asyncio.Protocol):
    """aiohttp's request handler, with the connection counted when it is established."""

    def __init__(self, inner: asyncio.Protocol, stats: ConnectionStats) -> None:
        self._inner = inner
        self._stats = stats
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._stats.established(transport)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._stats.closed(self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class CountingSite(web.TCPSite):
    """A TCP site (HTTPS when given an SSL context) whose connections are counted.

    asyncio calls the protocol factory at TCP accept and the protocol's connection_made only
    once the TLS handshake is done, so a handshake that fails is an accept with no connection.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        stats: ConnectionStats,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._stats = stats

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        self._server = await asyncio.get_running_loop().create_server(
            self._factory(server), self._host, self._port, ssl=self._ssl_context
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]

    def _factory(self, server: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        stats = self._stats

        def accept() -> asyncio.Protocol:
            stats.accepted()
            return _CountedProtocol(server(), stats)

        return accept
