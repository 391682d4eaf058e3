"""examples/web_service: the real ASGI app, its lifespan run as a server runs it, driven by
concurrent requests; the emulator counts the connections the service's client opened."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import ModuleType
from typing import Any

import httpx
import pytest

from asyncrun import RateLimits
from asyncrun.emulator import Emulator
from asyncrun.emulator.default_app import digest_json

from .support import EXAMPLES, KEY

REQUESTS = 60


def load_service(monkeypatch: pytest.MonkeyPatch, url: str, **env: str) -> ModuleType:
    """A fresh import of examples/web_service/app.py with the env a deployment would set."""
    monkeypatch.delenv("NEXTMV_APP_ID", raising=False)
    monkeypatch.setenv("NEXTMV_API_KEY", KEY)
    monkeypatch.setenv("NEXTMV_ENDPOINT", url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = EXAMPLES / "web_service" / "app.py"
    spec = importlib.util.spec_from_file_location("web_service_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI lifespan protocol (startup, then shutdown) as uvicorn drives it, around an
    httpx client that sends requests into the app."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(from_app.get(), 30))["type"] == "lifespan.startup.complete"
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        assert (await asyncio.wait_for(from_app.get(), 30))["type"] == "lifespan.shutdown.complete"
        await asyncio.wait_for(lifespan, 30)


def asyncrun_connections(emu: Emulator) -> dict[str, int]:
    by_client = emu.stats()["connections"]["by_client"]
    (name,) = [n for n in by_client if n.startswith("asyncrun/")]
    counts: dict[str, int] = by_client[name]
    return counts


async def test_concurrent_requests_share_the_lifespan_client_pool(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with emulator_factory(api_key=KEY, time_scale=20) as emu:
        service = load_service(monkeypatch, emu.url)
        # The emulator has no quota: the standard plan's 5 creations/s would only slow the test.
        service.LIMITS = service.LIMITS.model_copy(update={"rate": RateLimits.unlimited()})
        bodies = [{"input": {"request": i, "items": list(range(i % 7))}} for i in range(REQUESTS)]
        async with served(service.app) as http:
            answers = await asyncio.gather(*(http.post("/solve", json=b) for b in bodies))

        assert [a.status_code for a in answers] == [200] * REQUESTS
        results = [a.json() for a in answers]
        assert all(r["status"] == "succeeded" for r in results)
        # Each request got the result of its own input.
        for body, result in zip(bodies, results, strict=True):
            assert result["output"]["input_digest"] == digest_json(body["input"])
        assert len({r["run_id"] for r in results}) == REQUESTS == emu.stats()["runs_created"]

        seen = asyncrun_connections(emu)
        assert seen["requests"] >= 3 * REQUESTS  # a POST, its polls, its result read each
        # One pool for the service: at most its connection limit (plus the two a client keeps
        # for list pages), where a client per request would open one or more per request.
        assert seen["connections"] <= service.LIMITS.max_connections + 2


async def test_a_run_past_the_timeout_is_canceled_and_answered_504(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with emulator_factory(api_key=KEY) as emu:
        service = load_service(monkeypatch, emu.url, RUN_TIMEOUT_SECONDS="0.5")
        slow = {"input": {"hard": True}, "options": {"emulator.duration": "3600"}}
        async with served(service.app) as http:
            answer = await http.post("/solve", json=slow)

        assert answer.status_code == 504
        assert "canceled" in answer.json()["detail"]
        (run,) = emu.runs()
        assert run["status"] == "canceled"
