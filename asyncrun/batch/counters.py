"""BatchCounters: the live counts of a batch (progress displays, benchmarks, tests).

Every change goes through `move`, one scenario from one place to the next, so the counts always
add up: the poll pacer reads `running`, and a count that drifted would change the pacing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from asyncrun.batch.outcome import DuplicateRun

__all__ = ["BatchCounters", "Place"]

Place = Literal["queued", "running"]
"""Where an unfinished scenario is: pulled and not submitted yet, or submitted and polled."""


@dataclass
class BatchCounters:
    """Live counts of a batch. `max_ahead` is the largest number of scenarios pulled from the
    source and not yet finished at any moment. Read them; the batch changes them with `move`."""

    pulled: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    errors: int = 0
    skipped: int = 0
    max_ahead: int = 0
    started: float = field(default_factory=time.monotonic)
    # Extra runs of the batch's names found by the end-of-batch sweep (filled when it ends).
    duplicate_runs: list[DuplicateRun] = field(default_factory=list)
    # Lookups by name that waited for a POST's deadline first (the rest were answered at once).
    deadline_waits: int = 0
    # Submissions in doubt (their POST unanswered, here or in an earlier process, and their
    # run not found) waiting for their deadline to be looked up again, by deadline.
    _in_doubt: Counter[datetime] = field(default_factory=Counter, repr=False)

    @property
    def in_doubt(self) -> int:
        """Submissions waiting for their deadline before their name is looked up again."""
        return self._in_doubt.total()

    @property
    def in_doubt_until(self) -> datetime | None:
        """When the last of them is looked up again (None: none waits)."""
        return max(self._in_doubt) if self._in_doubt else None

    def waiting_for(self, deadline: datetime) -> None:
        """A submission in doubt waits until `deadline`."""
        self.deadline_waits += 1
        self._in_doubt[deadline] += 1

    def waited_for(self, deadline: datetime) -> None:
        self._in_doubt[deadline] -= 1
        if self._in_doubt[deadline] <= 0:
            del self._in_doubt[deadline]

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.canceled + self.errors + self.skipped

    def move(self, source: Place | None, target: str) -> None:
        """One scenario moves from `source` (None: just pulled from the scenario source) to
        `target`: "queued", "running", "skipped" (finished by an earlier process), or the status
        it ended with ("succeeded", "failed", "canceled"; any other counts as an error)."""
        if source is None:
            self.pulled += 1
        elif source == "queued":
            self.queued -= 1
        else:
            self.running -= 1
        if target == "queued":
            self.queued += 1
        elif target == "running":
            self.running += 1
        elif target == "skipped":
            self.skipped += 1
        elif target == "succeeded":
            self.succeeded += 1
        elif target == "failed":
            self.failed += 1
        elif target == "canceled":
            self.canceled += 1
        else:
            self.errors += 1
        if source is None:
            self.max_ahead = max(self.max_ahead, self.pulled - self.finished)
