"""Rate buckets of the `realistic` profile: token buckets answering 429 with Retry-After."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

Bucket = Literal["create", "result", "general"]

# (tokens, per seconds) as published for Nextmv Cloud.
REALISTIC: Mapping[Bucket, tuple[float, float]] = MappingProxyType(
    {
        "create": (5.0, 1.0),
        "result": (200.0, 10.0),
        "general": (2000.0, 60.0),
    }
)


class TokenBucket:
    """`capacity` tokens, refilled continuously at `capacity / period` per second."""

    def __init__(
        self, capacity: float, period: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.rate = capacity / period
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def take(self) -> float:
        """Take one token; 0.0 if granted, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class RateLimiter:
    """One bucket per Nextmv rate class; `None` buckets mean unlimited. `clock` (seconds) is
    what the buckets refill by: the wall clock, or a test's own."""

    def __init__(self, profile: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[Bucket, TokenBucket] = {}
        if profile == "realistic":
            self._buckets = {
                name: TokenBucket(*spec, clock=clock) for name, spec in REALISTIC.items()
            }

    @property
    def active(self) -> bool:
        return bool(self._buckets)

    def retry_after(self, bucket: Bucket) -> int | None:
        """None if the request may go on, else the Retry-After seconds (an integer >= 1)."""
        limiter = self._buckets.get(bucket)
        if limiter is None:
            return None
        wait = limiter.take()
        if wait <= 0.0:
            return None
        return max(1, math.ceil(wait))
