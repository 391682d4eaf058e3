"""Adaptive polling for a batch: finished runs tell when to poll the others.

Before `min_samples` runs have finished, the batch's PollingOptions schedule applies unchanged.
After that, a run is first polled at a low quantile of the observed durations (no point polling
a 30 s run at 1 s), and while its age is inside the observed range it is polled at a fraction of
that range, so detection lag stays a small part of the spread instead of growing with the
exponential backoff. A run older than every run seen so far (early in a batch only short runs
have finished, so this is common and not a sign of a straggler) is polled at a fixed fraction of
its age: its lag stays proportional, and a real straggler's polls still thin out geometrically.
Inside the observed range the interval replaces the caller's backoff (whose short first sleeps
would cost polls without cutting lag); beyond it the caller takes the smaller of the two. Pure
and deterministic: no clock, no I/O.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections import deque

__all__ = ["Cohort", "PollEstimator", "quantile"]


def quantile(ordered: list[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of sorted values, linearly interpolated."""
    if not ordered:
        raise ValueError("quantile of no values")
    position = min(max(q, 0.0), 1.0) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class PollEstimator:
    """Observed run durations (seconds from submission to the end of the run) of one batch.

    Keeps the last `window` observations (bounded memory whatever the batch size).
    """

    def __init__(
        self,
        *,
        min_samples: int = 5,
        window: int = 512,
        first_quantile: float = 0.1,
        high_quantile: float = 1.0,
        divisions: float = 5.0,
        beyond_fraction: float = 0.2,
        min_interval: float = 0.1,
    ) -> None:
        if min_samples < 1 or window < min_samples:
            raise ValueError("need 1 <= min_samples <= window")
        if not 0 <= first_quantile <= high_quantile <= 1:
            raise ValueError("need 0 <= first_quantile <= high_quantile <= 1")
        self.min_samples = min_samples
        self.first_quantile = first_quantile
        self.high_quantile = high_quantile
        self.divisions = divisions
        self.beyond_fraction = beyond_fraction
        self.min_interval = min_interval
        self._recent: deque[float] = deque(maxlen=window)
        self._ordered: list[float] = []

    @property
    def samples(self) -> int:
        return len(self._recent)

    def observe(self, seconds: float) -> None:
        """One finished run's duration (ignored when not a finite, non-negative number)."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        if len(self._recent) == self._recent.maxlen:
            oldest = self._recent[0]
            del self._ordered[bisect.bisect_left(self._ordered, oldest)]
        self._recent.append(seconds)
        bisect.insort(self._ordered, seconds)

    def quantile(self, q: float) -> float:
        """The q-quantile of the observed durations (0 before any was observed)."""
        return quantile(self._ordered, q) if self._ordered else 0.0

    def ready(self) -> bool:
        return len(self._recent) >= self.min_samples

    def first_poll_after(self) -> float | None:
        """Seconds after submission to poll a new run first; None: use the PollingOptions."""
        if not self.ready():
            return None
        return quantile(self._ordered, self.first_quantile)

    def within_range(self, age: float) -> bool:
        """Whether runs as old as `age` have been seen finishing (inside the observed range,
        the interval is informed by data and replaces the backoff; beyond it, it only caps it)."""
        return self.ready() and age < quantile(self._ordered, self.high_quantile)

    def poll_interval(self, age: float) -> float | None:
        """The longest sleep worth making for a run `age` seconds after its submission: a
        fraction of the observed range while the age is inside it, a fraction of the age
        beyond it; None before enough runs finished (plain backoff)."""
        if not self.ready():
            return None
        high = quantile(self._ordered, self.high_quantile)
        if age >= high:
            return max(self.min_interval, self.beyond_fraction * age)
        spread = high - quantile(self._ordered, self.first_quantile)
        return max(self.min_interval, spread / self.divisions)


class Cohort:
    """The batch's runs in order of submission, and which have finished: the share of the runs
    submitted at least `age` seconds ago that have finished. Observed durations alone are those
    of the runs that finished first: early in a batch of 1-3 s runs, 1.1 s is the 0.9 quantile
    of what has finished, while nine runs in ten of that age are still running. Memory: 9 bytes
    per run; a query sums per-block counts (blocks of 256 runs)."""

    _BLOCK = 256

    def __init__(self) -> None:
        self._starts = array("d")
        self._done = bytearray()
        self._blocks: list[int] = []

    def add(self, start: float) -> int:
        """A run submitted at `start` (the caller's clock); its number, for `finished`."""
        seq = len(self._starts)
        # Runs arrive about in order of submission; kept sorted for the search.
        self._starts.append(max(start, self._starts[-1]) if seq else start)
        self._done.append(0)
        if seq % self._BLOCK == 0:
            self._blocks.append(0)
        return seq

    def finished(self, seq: int) -> None:
        if not self._done[seq]:
            self._done[seq] = 1
            self._blocks[seq // self._BLOCK] += 1

    def finished_share(self, submitted_by: float) -> float | None:
        """Of the runs submitted at or before `submitted_by`, the share that finished; None
        when there are none."""
        count = bisect.bisect_right(self._starts, submitted_by)
        if count == 0:
            return None
        full = count // self._BLOCK
        done = sum(self._blocks[:full]) + sum(self._done[full * self._BLOCK : count])
        return done / count
