"""Fakes for the client suites: the virtual clock (tests/fake_clock.py), bounded cancellation,
a sleep that blocks until cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

from fake_clock import FakeClock

__all__ = ["BlockingSleep", "FakeClock", "cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Future[Any]) -> bool:
    """Cancel `task` and wait for it to end (bounded: a task that swallows the cancellation and
    goes on would otherwise hang the test); True when it ended cancelled."""
    task.cancel()
    await asyncio.wait({task}, timeout=30)
    return task.cancelled()


class BlockingSleep:
    """A sleep that returns at once for 0 s and otherwise waits until cancelled: `entered` is set
    when a sleeper starts such a wait, so a test cancels at exactly that moment, and after the
    cancelled task has ended no request of it can follow (no sleep-then-assert)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.sleeps: list[float] = []
        self.cancelled = 0

    async def __call__(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self.sleeps.append(seconds)
        self.entered.set()
        try:
            await asyncio.get_running_loop().create_future()  # never set: only a cancel ends it
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
