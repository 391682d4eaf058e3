"""Connection slots: the requests waiting for one of the pool's connections, served in arrival
order, whose wait fails only when the pool stops moving.

A wait bounded per request (a timeout around a semaphore) turns a long queue into errors. With
10,000 runs in flight, 10,000 requests queue for 100 connections; once the client carries fewer
than 10,000 / `pool` requests a second (a busy CPU, a 40 ms round trip), the requests at the back
time out although slots change hands hundreds of times a second, and each retry joins the back
of the queue, behind the polls queued meanwhile, to time out again. A pool timeout is there to
catch a pool that does not move (every connection held by an answer that does not come), so
that is what it measures: a request fails after waiting `patience` seconds only if no slot was
released during the last `patience` seconds. A waiter keeps its place in the queue while it
waits, and a slot is handed to the next waiter directly (no newcomer takes it first).

Requests that ask to go `first` (the transport's submissions) have a queue of their own, served
before the others: when the client is the bottleneck, a run submitted sooner ends sooner (the
batch's finish line), while a status read waiting a little costs only detection lag.
"""

from __future__ import annotations

import asyncio
import collections
import math

__all__ = ["ConnectionSlots", "PoolStalled"]


class PoolStalled(Exception):
    """No slot was released for `patience` seconds while this request waited for one."""


class ConnectionSlots:
    """`size` slots; `acquire()` waits its turn, `release()` hands the slot to the next waiter."""

    def __init__(self, size: int, *, patience: float) -> None:
        self.size = size
        self._free = size
        self._patience = patience
        # (loop time of arrival, future): done entries (cancelled, failed) are dropped lazily.
        self._first: collections.deque[tuple[float, asyncio.Future[None]]] = collections.deque()
        self._waiters: collections.deque[tuple[float, asyncio.Future[None]]] = collections.deque()
        self._released_at = -math.inf  # loop time of the last release
        self._watch: asyncio.TimerHandle | None = None

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return sum(1 for _, fut in (*self._first, *self._waiters) if not fut.done())

    async def acquire(self, *, first: bool = False) -> None:
        """Take a slot, in turn (`first`: in the queue served first); PoolStalled when none
        was released for `patience` seconds."""
        # Free slots mean nobody waits: release() hands a slot to a live waiter before it
        # counts one as free.
        if self._free:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        (self._first if first else self._waiters).append((loop.time(), fut))
        if self._watch is None:
            self._arm(loop)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release()  # handed a slot as it was cancelled: pass it on
            raise

    def release(self) -> None:
        self._released_at = asyncio.get_running_loop().time()
        for waiters in (self._first, self._waiters):
            while waiters:
                _, fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(None)
                    return
        self._free += 1

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch the oldest live waiter: it is due to fail `patience` after both its arrival
        and the last release. One timer per pool, not one per waiter."""
        arrivals = []
        for waiters in (self._first, self._waiters):
            while waiters and waiters[0][1].done():
                waiters.popleft()
            if waiters:
                arrivals.append(waiters[0][0])
        if not arrivals:
            self._watch = None
            return
        due = max(min(arrivals), self._released_at) + self._patience
        self._watch = loop.call_at(due, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        if now - self._released_at >= self._patience:
            # Stalled: every request that has waited the whole while fails (never sent).
            for waiters in (self._first, self._waiters):
                while waiters and now - waiters[0][0] >= self._patience:
                    _, fut = waiters.popleft()
                    if not fut.done():
                        fut.set_exception(PoolStalled())
        self._arm(loop)
