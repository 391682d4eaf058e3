"""Client-side rate limiting: one sliding-window bucket per Nextmv rate bucket, and a shared
429 cool-down.

A bucket lets at most `count` requests through in any window of `per_seconds`, measured the
way the server can see it: a request's slot is counted from when its answer came back (an upper
bound on when the server received it), so a batch whose requests were slow to arrive cannot
push the next batch into the same server-side window. Waiters queue in arrival order (each
waits for the one before it to get its slot), so the bucket is fair however many tasks wait;
a waiter cancelled while queued simply leaves, and its slot goes to the next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncrun._types import Clock, Sleep
from asyncrun.config import Bucket, Rate, RateLimits, RetryPolicy

__all__ = ["CoolDown", "RateLimiter", "TokenBucket"]

logger = logging.getLogger("asyncrun")


class _Grant:
    """One request let through; `finished_at` is set when its answer (or failure) came."""

    __slots__ = ("finished", "finished_at")

    def __init__(self) -> None:
        self.finished = asyncio.Event()
        self.finished_at = 0.0

    def finish(self, now: float) -> None:
        if not self.finished.is_set():
            self.finished_at = now
            self.finished.set()


class TokenBucket:
    """At most `rate.count` requests in any `rate.per_seconds` window (bursts of `count` pass)."""

    def __init__(
        self, rate: Rate, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._count = rate.count
        self._period = rate.per_seconds
        self._clock = clock
        self._sleep = sleep
        self._grants: deque[_Grant] = deque(maxlen=rate.count)
        self._tail: asyncio.Future[None] | None = None  # set once the last queued waiter is through

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the duration of one request."""
        grant = await self.acquire()
        try:
            yield
        finally:
            grant.finish(self._clock())

    async def acquire(self) -> _Grant:
        """Take a slot; the caller finishes the grant when the request's answer came."""
        ahead, through = self._tail, asyncio.get_running_loop().create_future()
        self._tail = through
        try:
            if ahead is not None and not ahead.done():
                await asyncio.shield(ahead)  # shield: our cancellation must not cancel theirs
            if len(self._grants) == self._count:
                oldest = self._grants[0]  # the count-th request before this one
                await oldest.finished.wait()
                delay = oldest.finished_at + self._period - self._clock()
                if delay > 0:
                    await self._sleep(delay)
            grant = _Grant()
            self._grants.append(grant)
            return grant
        finally:
            if not through.done():
                through.set_result(None)


class CoolDown:
    """After a 429, every sender of the client waits until the cool-down is over.

    The pause is the server's Retry-After (capped by RetryPolicy.max_retry_after) or, without
    one, an exponential default that doubles with each 429 in a row and resets on success.
    """

    def __init__(
        self, policy: RetryPolicy, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._until = -float("inf")
        self._strikes = 0

    @property
    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    def trigger(self, retry_after: float | None) -> float:
        """Start (or extend) the cool-down; return its length."""
        cap = self._policy.max_retry_after
        if retry_after is None:
            base = max(self._policy.initial_delay, 0.1)
            pause = min(cap, base * 2.0 ** min(self._strikes, 30))
        else:
            pause = min(cap, max(0.0, retry_after))
        self._strikes += 1
        self._until = max(self._until, self._clock() + pause)
        logger.warning("rate limited (429): all requests pause %.2f s", pause)
        return pause

    def reset(self) -> None:
        """A request succeeded: the next 429 starts the default schedule again."""
        self._strikes = 0

    async def wait(self) -> None:
        """Return once no cool-down is active (the deadline may move while we sleep)."""
        while (left := self._until - self._clock()) > 0:
            await self._sleep(left)


class RateLimiter:
    """The three buckets of a client plus its cool-down."""

    def __init__(
        self,
        rates: RateLimits,
        policy: RetryPolicy,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self.cooldown = CoolDown(policy, clock=clock, sleep=sleep)
        self._buckets: dict[Bucket, TokenBucket] = {}
        for name in ("create", "result", "general"):
            rate = rates.for_bucket(name)
            if rate is not None:
                self._buckets[name] = TokenBucket(rate, clock=clock, sleep=sleep)

    async def acquire(self, bucket: Bucket | None) -> _Grant | None:
        """Wait out any cool-down, then take a slot of `bucket` (None: no bucket, no grant).
        Hand the grant to `release` when the request's answer (or failure) came."""
        if self.cooldown.remaining > 0:
            await self.cooldown.wait()
        limiter = self._buckets.get(bucket) if bucket is not None else None
        return await limiter.acquire() if limiter is not None else None

    def release(self, grant: _Grant | None) -> None:
        if grant is not None:
            grant.finish(self._clock())

    @asynccontextmanager
    async def slot(self, bucket: Bucket | None) -> AsyncIterator[None]:
        """`acquire` and `release` around one request."""
        grant = await self.acquire(bucket)
        try:
            yield
        finally:
            self.release(grant)
