"""Fixtures for the client tests: a client bound to an emulator, fast polling options."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from fast_polling import FAST_POLLING

from asyncrun import AsyncClient, Limits, RateLimits, RetryPolicy
from asyncrun.emulator import Emulator

KEY = "test-key"

FAST = FAST_POLLING


def fast_client(url: str, **kwargs: object) -> AsyncClient:
    """A client with no client-side rate limit and short retry sleeps."""
    kwargs.setdefault("limits", Limits(max_connections=20, rate=RateLimits.unlimited()))
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0.001, max_delay=0.01))
    return AsyncClient(KEY, url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with fast_client(emulator.url) as c:
        yield c


def digest(value: Any) -> str:
    """The default app's input_digest of a JSON input (sha256 of its canonical JSON)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def emu(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> AsyncIterator[Emulator]:
    """An emulator 200x faster than real time, with pages of 3 (listing crosses pages)."""
    async with emulator_factory(time_scale=200.0, page_size=3) as e:
        yield e
