"""Fixtures for the client tests: a client bound to an emulator, fast polling options."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncrun import AsyncClient, Limits, PollingOptions, RateLimits, RetryPolicy
from asyncrun.emulator import Emulator

KEY = "test-key"

FAST = PollingOptions(initial_delay=0.005, delay=0.005, backoff=0.005, max_delay=0.05, jitter=0.005)
"""Polling options for tests: a few milliseconds between polls."""


def fast_client(url: str, **kwargs: object) -> AsyncClient:
    """A client with no client-side rate limit and short retry sleeps."""
    kwargs.setdefault("limits", Limits(max_connections=20, rate=RateLimits.unlimited()))
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0.001, max_delay=0.01))
    return AsyncClient(KEY, url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with fast_client(emulator.url) as c:
        yield c
