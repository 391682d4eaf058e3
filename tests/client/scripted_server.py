"""A scripted HTTP server for transport tests: each route answers from a queue of replies.

A reply is a `Reply` (status, headers, body, optional delay before answering) or `DROP`
(the connection is closed after the request was read, with no answer). Every request is
recorded (method, path, query, headers, body), so tests count attempts and inspect headers.
When a route's queue is empty it answers its default reply (404 when none was set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from multidict import CIMultiDict

DROP: Final = "drop"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # bytes / str sent as is; anything else as JSON
    delay: float = 0.0
    chunked: bool = False  # sent with chunked transfer encoding (no Content-Length)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: bytes


Script = Reply | str


async def _chunked(request: web.Request, reply: Reply) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    body = reply.encode()
    for start in range(0, len(body), 16 * 1024):
        await response.write(body[start : start + 16 * 1024])
    await response.write_eof()
    return response


class ScriptedServer:
    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], deque[Script]] = {}
        self._defaults: dict[tuple[str, str], Script] = {}
        self.requests: list[Recorded] = []
        self._arrival = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(
        self, method: str, path: str, *replies: Script, default: Script | None = None
    ) -> ScriptedServer:
        key = (method.upper(), path)
        self._queues.setdefault(key, deque()).extend(replies)
        if default is not None:
            self._defaults[key] = default
        return self

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    async def arrived(self, method: str, path: str, count: int = 1) -> None:
        """Wait until `count` requests to the route have arrived (an event, not a sleep)."""
        while len(self.calls(method, path)) < count:
            self._arrival.clear()
            await self._arrival.wait()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.raw_path.split("?", 1)[0],
                dict(request.query),
                CIMultiDict(request.headers),
                body,
            )
        )
        self._arrival.set()
        key = (request.method, request.raw_path.split("?", 1)[0])
        queue = self._queues.get(key)
        reply = (
            queue.popleft() if queue else self._defaults.get(key, Reply(404, body={"error": "no"}))
        )
        if reply == DROP:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        assert isinstance(reply, Reply)
        if reply.delay:
            # Over early when the server closes: a slow answer does not hold up the teardown
            # (the server waits for every answer under way).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay)
        if reply.chunked:
            return await _chunked(request, reply)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.encode())

    async def __aenter__(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._closing.set()
        await self._runner.cleanup()
