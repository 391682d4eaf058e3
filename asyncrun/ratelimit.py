"""Client-side rate limiting: one token bucket per Nextmv rate bucket, and a shared 429 cool-down.

Each caller of a bucket reserves the next free slot at once and then sleeps until it, so
waiters are served strictly in arrival order however many there are, and no lock or wake-up
storm is needed. A caller cancelled while waiting hands its slot back
when nobody reserved after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from asyncrun.config import Bucket, Rate, RateLimits, RetryPolicy

__all__ = ["CoolDown", "RateLimiter", "TokenBucket"]

logger = logging.getLogger("asyncrun")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """At most `rate.count` acquisitions in any window of `rate.per_seconds` seconds.

    A sliding window of the last `count` granted slots: the next slot is `per_seconds` after the
    `count`-th previous one (and never before the previous slot), so bursts of `count` pass at
    once and no window ever holds more, which plain GCRA with a burst tolerance does not ensure.
    """

    def __init__(
        self, rate: Rate, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._count = rate.count
        self._period = rate.per_seconds
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque(maxlen=rate.count)

    def reserve(self) -> float:
        """Reserve the next slot; return how long to wait for it (0 when free now)."""
        now = self._clock()
        slot = now
        if self._slots:
            slot = max(slot, self._slots[-1])
            if len(self._slots) == self._count:
                slot = max(slot, self._slots[0] + self._period)
        self._slots.append(slot)
        return slot - now

    async def acquire(self) -> None:
        """Wait for a token. Cancellation propagates; an unused slot is returned if possible."""
        wait = self.reserve()
        if wait <= 0:
            return
        slot = self._slots[-1]
        try:
            await self._sleep(wait)
        except BaseException:
            # Nobody reserved after us: hand the slot back. (The oldest entry it pushed out is
            # lost, which only makes the window more conservative.)
            if self._slots and self._slots[-1] == slot:
                self._slots.pop()
            raise


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
        self.cooldown = CoolDown(policy, clock=clock, sleep=sleep)
        self._buckets: dict[Bucket, TokenBucket] = {}
        for name in ("create", "result", "general"):
            rate = rates.for_bucket(name)
            if rate is not None:
                self._buckets[name] = TokenBucket(rate, clock=clock, sleep=sleep)

    async def acquire(self, bucket: Bucket | None) -> None:
        """Wait out any cool-down, then take a token from `bucket` (None: no bucket)."""
        await self.cooldown.wait()
        limiter = self._buckets.get(bucket) if bucket is not None else None
        if limiter is not None:
            await limiter.acquire()
