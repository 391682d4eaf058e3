"""A virtual clock that moves only when a test moves it (or sleeps on it): what a component
decides from elapsed time no longer depends on how fast a loaded machine runs the test. Shared by
the suites (tests/ is on the import path, as for fast_polling.py)."""

from __future__ import annotations

import asyncio


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance time at once (and record the sleep)."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)  # still a real suspension point: cancellation can land here
