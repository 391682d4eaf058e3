"""Pacing a batch's polls by the load the client sees: fewer polls when they queue, more when
the client has room.

The estimator's schedule is about run durations only. Two things it cannot see:

- Queueing. A CPU-bound client or a full connection pool makes every poll wait, and each extra
  poll adds to the wait of all the others (submissions and result fetches included). So a run
  whose last poll took `latency` seconds from when it was due to its answer is not polled again
  sooner than `latency_multiple` such waits: demand falls back to what the client can carry.
- Spare capacity. As a batch drains, the estimator would leave its last runs (the ones its
  makespan waits for) up to a fifth of their age between polls while the client sits idle. By
  Little's law a pool of `max_connections` answering in `latency` seconds carries about
  max_connections / latency requests a second; polls may use `share` of that (and at most
  `share` of the general bucket's rate when it is limited), split over the runs in flight, but
  never more often than `lag_fraction` of a run's age (5 %, at least `min_interval`, 0.1 s), and
  for the batch's last few runs (`tail`: the makespan waits for them, and they are few)
  `tail_fraction` (1.5 %, at least `tail_interval`, 30 ms). The batch applies this once its
  source is exhausted, so a long steady-state batch keeps the estimator's poll counts.

`latency` is smoothed over the batch's polls. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math

from asyncrun.config import Limits

__all__ = ["PollPacer"]


class PollPacer:
    """Load-aware bounds on the pause between two polls of a run (see the module text)."""

    def __init__(
        self,
        limits: Limits,
        *,
        share: float = 0.5,
        lag_fraction: float = 0.05,
        min_interval: float = 0.1,
        tail_fraction: float = 0.015,
        tail_interval: float = 0.03,
        smoothing: float = 0.3,
        latency_multiple: float = 2.0,
    ) -> None:
        if not 0 < share <= 1 or not 0 < smoothing <= 1:
            raise ValueError("need 0 < share <= 1 and 0 < smoothing <= 1")
        self.share = share
        self.lag_fraction = lag_fraction
        self.tail_fraction = tail_fraction
        self.tail_interval = tail_interval
        self.min_interval = min_interval
        self.smoothing = smoothing
        self.latency_multiple = latency_multiple
        self.connections = limits.max_connections
        general = limits.rate.general
        self.rate_cap = math.inf if general is None else general.count / general.per_seconds
        self.latency: float | None = None  # smoothed seconds a poll takes, waits included

    def record_latency(self, seconds: float) -> None:
        """How long one poll took, from when it was due to its answer."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        if self.latency is None:
            self.latency = seconds
        else:
            self.latency += self.smoothing * (seconds - self.latency)

    @property
    def budget(self) -> float | None:
        """Polls a second the batch may spend; None until a latency was seen."""
        if self.latency is None:
            return None
        carried = self.connections / max(self.latency, 1e-3)
        return self.share * min(carried, self.rate_cap)

    def ceiling(self, age: float, running: int, *, tail: bool = False) -> float | None:
        """The pause the spare capacity allows for a run `age` seconds old while `running`
        runs are in flight (`tail`: they are the batch's last few); None while nothing is
        known."""
        budget = self.budget
        if budget is None:
            return None
        shared = max(running, 1) / budget
        if tail:
            return max(self.tail_interval, self.tail_fraction * age, shared)
        return max(self.min_interval, self.lag_fraction * age, shared)

    def floor(self) -> float:
        """The shortest pause worth making now: a poll answered after queueing for `latency`
        seconds is not repeated sooner than `latency_multiple` such waits (0 while unknown)."""
        return self.latency_multiple * self.latency if self.latency is not None else 0.0

    def pace(self, advised: float, age: float, running: int, *, tail: bool = False) -> float:
        """The estimator's pause, shortened to use spare capacity."""
        ceiling = self.ceiling(age, running, tail=tail)
        return advised if ceiling is None else min(advised, ceiling)
