"""Whether the API can be reached, as every request attempt of one client sees it."""

from __future__ import annotations

import time

from asyncrun._types import Clock
from asyncrun.errors import APIConnectionError

__all__ = ["Reachability"]


class Reachability:
    """Since when nothing but failed connections has been seen (refused, unresolved, connect
    timed out): `unreachable_for()` seconds, 0 once any attempt connects. The transport records
    every attempt; a batch stops when the API stays unreachable too long (batch/failfast.py)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.failing_since: float | None = None
        self.last_error: APIConnectionError | None = None

    def connect_failed(self, error: APIConnectionError) -> None:
        if self.failing_since is None:
            self.failing_since = self._clock()
        self.last_error = error

    def connected(self) -> None:
        self.failing_since = None

    def unreachable_for(self) -> float:
        return 0.0 if self.failing_since is None else self._clock() - self.failing_since
