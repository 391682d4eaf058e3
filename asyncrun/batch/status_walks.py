"""What coalesced status reads (status_reads.py) keep and estimate: the news a run is given, the
per-run and per-walk state, and the arithmetic a plan is made from (where a run sits in the run
list, when a walk reaches it, how long it may wait).

A run's depth in the list is estimated from the order of submission (every run of ours
submitted after it lies above it), scaled by the share of other runs (other batches, other
users) seen interleaved on earlier pages, and corrected whenever a page shows the run itself. A
walk that passes a run's estimated depth without seeing it hands that run to a single read, as
does a walk that ends; an estimate off by any amount costs requests, never an answer.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Protocol

from asyncrun.models import (
    TERMINAL_STATUSES,
    RunInformation,
    RunResult,
    RunsPage,
    StatusV2,
)

__all__ = [
    "SINGLE",
    "News",
    "RunState",
    "Single",
    "Status",
    "StatusSource",
    "Walk",
    "budget",
    "depth_of",
    "reach_time",
]

Status = StatusV2 | str


class StatusSource(Protocol):
    """The reads status news may come from (AsyncApplication has them)."""

    async def run_metadata(self, run_id: str, /) -> RunInformation: ...

    async def run_result_direct(
        self, run_id: str, /, *, max_inline: int | None = None
    ) -> RunResult: ...

    async def list_runs_page(self, page_token: str | None = None, /) -> RunsPage: ...


@dataclass(frozen=True, slots=True)
class News:
    """A run's status, and the answer it came with: the metadata (`info`) or result (`result`)
    of a single read, neither when a page of the run list showed it."""

    status: Status
    info: RunInformation | None = None
    result: RunResult | None = None
    waited: float = 0.0  # seconds it waited for company before its read was under way

    @property
    def final(self) -> bool:
        return self.status in TERMINAL_STATUSES


class Single:
    """The answer "read it yourself": the run's own coroutine makes its single read."""


SINGLE = Single()


@dataclass(eq=False, slots=True)
class RunState:
    """Per-run state, kept small: a batch may have 100,000 runs in flight."""

    seq: int  # order of submission (0: older than anything submitted by this process)
    listed: bool = True  # False once a page contradicted its own read: single reads only
    waiter: asyncio.Future[News | Single] | None = None  # wants news now
    walk: Walk | None = None  # the walk that will answer it
    estimate: float = 0.0  # its depth as estimated for that walk
    deadline: float = 0.0  # its answer may come this much later than its own read's
    plan_at: float = 0.0  # it waits for company until then (half its patience: the walk
    # that answers it needs the other half)
    asked: float = 0.0  # when it asked for news ...
    waited: float = 0.0  # ... and how long it then waited for company
    direct: bool = False  # its own read is its result read: no walk is started for it
    sleeper: asyncio.Future[None] | None = None  # sleeping; resolved to wake it early
    fresh_after: float = math.inf  # a page seen after this moment is news
    seen: Status | None = None  # what the last page showed, and when
    seen_at: float = -math.inf
    depth: int = -1  # where that page showed it (items from the top) ...
    depth_total: int = 0  # ... when this many runs of ours had been submitted


@dataclass(eq=False)
class Walk:
    """Pages from the top of the list down to `target` (an estimated depth)."""

    total: int  # runs of ours submitted when the walk started (its list has no newer ones)
    target: float = -1.0
    position: int = 0  # items seen so far
    ours: int = 0  # of which runs tracked here
    waiting: set[str] = field(default_factory=set)  # run ids it is to answer
    task: asyncio.Task[None] | None = None


def depth_of(run: RunState, total: int, interleave: float) -> float:
    """Where the run should be in a list taken when `total` runs of ours were submitted, with
    `interleave` list items per run of ours."""
    if run.depth >= 0:
        return run.depth + max(0, total - run.depth_total) * interleave
    return max(0, total - run.seq) * interleave


def reach_time(walk: Walk, depth: float, page: int, latency: float | None) -> float:
    """Seconds until the walk's page with `depth` on it is answered (pages go one by one;
    until a page was timed, only the next one is taken to come at once)."""
    pages = math.floor((depth - walk.position) / page) + 1
    if latency is None:
        return 0.0 if pages <= 1 else math.inf
    return pages * latency


def budget(run: RunState, now: float, latency: float | None) -> float:
    """How long a walk may take to answer the run: its patience left plus the time its own
    read would take (about one page's)."""
    return max(0.0, run.deadline - now) + (latency or 0.0)
