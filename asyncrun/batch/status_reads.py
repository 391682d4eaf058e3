"""Coalesced status reads: many runs' polls answered by a few pages of the application's run list.

Each run keeps its own backoff coroutine and decides when it wants news (`sleep`, then `read`);
this module only decides how the answer is fetched. `GET runs?pagereturn=true` answers up to 50
runs per request, newest first, each with its `status_v2`, so one page can stand for many
metadata reads, but reaching a run deep in the list costs every page above it. Runs that want
news at about the same time (one event-loop turn) form a due set, and the set is split by the
requests each way costs:

- a *walk* (pages from the top, following `next_page_token`) covers the due runs up to some
  depth for ceil(depth / page size) requests; a walk already under way covers every run between
  its position and its target depth for nothing, and further runs for the extra pages;
- every other due run gets its own read (metadata, or the result read when the caller expects
  the run to be final with a small output, so that one request is also its last).

A run may be answered a little later for company (`patience`, a share of the pause it just
slept): the due set is decided when the first of its runs has used half its patience, so runs
whose schedules are not aligned still share a walk, and the other half is the walk's time. A
run that expects to be final with a small output (`direct`) never waits and is never a walk's
target: its own result read answers it in one request, which a page could only add to; it
still takes an answer from a walk that passes it anyway.

Pages come one after the other (each needs the last one's token), so a walk reaches deep runs
late when the client or the server is busy: a run is only given to a walk that reaches it
within its patience left plus about one page's latency (what its own read would take).

Every status a page shows is kept: a run whose page showed it final is woken from its sleep at
once (found earlier than its schedule, for no request), and a run that wakes shortly after a
page showed it still running takes that answer instead of asking again. A final status seen on
a page is only news: the caller confirms it with the run's own result (or metadata) read.

The per-run and per-walk state and the depth estimate are in status_walks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable

from asyncrun.batch.status_walks import (
    SINGLE,
    News,
    RunState,
    Single,
    StatusSource,
    Walk,
    budget,
    depth_of,
    reach_time,
)
from asyncrun.models import TERMINAL_STATUSES, RunsPage

__all__ = ["News", "StatusReads", "StatusSource"]

_PAGE_SIZE = 50  # the cloud's documented page size; learned from full pages
_MAX_WALKS = 4  # walks under way at once (each is sequential: a page needs the last token)
# Runs read alone in a row, no walk chosen meanwhile, before runs stop waiting for company
# (a batch deep in a long list: every walk would cost more pages than it answers runs), and
# for how long; then company is tried again.
_SOLO_AFTER = 500
_SOLO_SECONDS = 2.0
_FRESH = 0.8  # a page counts as news for a run if seen after this share of its sleep
_SMOOTHING = 0.3  # weight of the latest page in the page latency


class StatusReads:
    """Answers `read(run_id)` for the runs of one application, coalescing into list pages
    where that costs fewer requests. `stats` counts pages, single reads and answers."""

    def __init__(
        self,
        app: StatusSource,
        *,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = _PAGE_SIZE,
        max_walks: int = _MAX_WALKS,
        page_latency: float | None = None,
        max_inline: int | None = None,
        solo_after: int = _SOLO_AFTER,
        solo_seconds: float = _SOLO_SECONDS,
    ) -> None:
        self._app = app
        self._max_inline = max_inline
        self._clock = clock
        self._page = page_size
        self._max_walks = max_walks
        self._runs: dict[str, RunState] = {}
        self._submitted = 0
        self._pending: dict[str, RunState] = {}  # want news, not yet given a way to get it
        self._walks: list[Walk] = []
        self._planned = False
        # When the first pending run runs out of half its patience (then it is planned), and
        # whether something else needs a planning pass first (a run that reads at once, a
        # page seen): until then a pass would change nothing for the runs waiting.
        self._next_due = math.inf
        self._urgent = False
        self._timer: asyncio.TimerHandle | None = None
        self._interleave = 1.0  # list items per run of ours (other runs sit in between)
        # Seconds a page takes to come back (smoothed); None: not timed yet.
        self._latency = page_latency
        # Waiting for company that never comes costs each run its patience and every
        # planning pass a look at it: after `solo_after` runs in a row read alone, runs read at
        # once for `solo_seconds`.
        self._solo_after = solo_after
        self._solo_seconds = solo_seconds
        self._alone_streak = 0
        self._solo_until = -math.inf
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ runs

    def track(self, run_id: str, *, older: bool = False) -> None:
        """A run to answer for, in submission order; `older`: submitted by an earlier process
        (it lies below every run submitted now)."""
        if run_id in self._runs:
            return
        self._submitted += 1
        self._runs[run_id] = RunState(seq=0 if older else self._submitted)

    def forget(self, run_id: str) -> None:
        run = self._runs.pop(run_id, None)
        self._pending.pop(run_id, None)
        if run is not None and run.walk is not None:
            run.walk.waiting.discard(run_id)

    def unlist(self, run_id: str) -> None:
        """A page's status for this run was contradicted by its own read: from now on it is
        answered by single reads only (a listing that lags cannot keep it waiting)."""
        run = self._runs.get(run_id)
        if run is not None:
            run.listed = False
            run.seen = None

    async def aclose(self) -> None:
        """Stop the walks under way (their runs' readers are cancelled with the batch)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        walks, self._walks = self._walks, []
        for walk in walks:
            if walk.task is not None:
                walk.task.cancel()
        for walk in walks:
            if walk.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await walk.task

    # ------------------------------------------------------------------ the run's side

    async def sleep(self, run_id: str, seconds: float) -> None:
        """Sleep `seconds`, or less when a page shows the run final meanwhile."""
        run = self._runs[run_id]
        now = self._clock()
        run.fresh_after = now + _FRESH * seconds
        if run.seen in TERMINAL_STATUSES or seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        run.sleeper = sleeper
        handle = loop.call_later(seconds, _wake, sleeper)
        try:
            await sleeper
        finally:
            handle.cancel()
            run.sleeper = None

    async def read(
        self,
        run_id: str,
        *,
        direct: bool = False,
        patience: float = 0.0,
        result_read: bool = False,
    ) -> News:
        """The run's status now: from a page seen since most of its sleep went by, else from a
        page of a walk, else from its own read. `direct`: the caller expects the run final
        and its output small: it reads for itself at once (no walk could make one request
        cheaper). `result_read`: its own read is the result read (taking in at most
        `max_inline` bytes), so that when the run is final that read is also its last. It may
        wait up to `patience` seconds for other runs to share a walk with."""
        run = self._runs[run_id]
        seen = run.seen
        if seen is not None and (seen in TERMINAL_STATUSES or run.seen_at >= run.fresh_after):
            run.seen = None
            self.stats["from_pages"] += 1
            return News(seen)
        run.direct = direct
        run.asked = self._clock()
        run.waited = 0.0
        patience = 0.0 if direct else max(0.0, patience)
        run.deadline = run.asked + patience
        run.plan_at = run.asked + patience / 2
        answer: News | Single = SINGLE
        solo = run.asked < self._solo_until
        if solo:
            self.stats["solo"] += 1
        if run.listed and not solo:
            waiter: asyncio.Future[News | Single] = asyncio.get_running_loop().create_future()
            run.waiter = waiter
            self._pending[run_id] = run
            self._next_due = min(self._next_due, run.plan_at)
            self._urgent = self._urgent or direct
            self._plan_soon()
            try:
                answer = await waiter
            finally:
                run.waiter = None
                self._pending.pop(run_id, None)
                if run.walk is not None:
                    run.walk.waiting.discard(run_id)
                    run.walk = None
        if isinstance(answer, News):
            self.stats["from_pages"] += 1
            run.seen = None
            return News(answer.status, waited=run.waited)
        self.stats["single_reads"] += 1
        waited, asked = run.waited, self._clock()
        # The answer is kept (as the run's outcome) only when final: a run in flight holds its
        # status alone, not a parsed answer of a few kilobytes.
        if direct or result_read:
            result = await self._app.run_result_direct(run_id, max_inline=self._max_inline)
            self._timed(asked)
            if result.metadata.run_is_finalized():
                return News(result.metadata.status_v2, info=result, result=result, waited=waited)
            return News(result.metadata.status_v2, waited=waited)
        info = await self._app.run_metadata(run_id)
        self._timed(asked)
        if info.metadata.run_is_finalized():
            return News(info.metadata.status_v2, info=info, waited=waited)
        return News(info.metadata.status_v2, waited=waited)

    def _timed(self, asked: float) -> None:
        """A read asked at `asked` was answered now: the server's answer time, which a page
        shares (a page's own time is about the same, its parse aside), is smoothed in."""
        took = self._clock() - asked
        last = took if self._latency is None else self._latency
        self._latency = last + _SMOOTHING * (took - last)

    # ------------------------------------------------------------------ planning

    def _plan_soon(self) -> None:
        # Runs whose timers fire together ask within one loop turn: plan them as one set.
        if not self._planned:
            self._planned = True
            asyncio.get_running_loop().call_soon(self._plan)

    def _plan(self) -> None:
        """Give the runs that want news a way to get it. A run a walk under way will pass is
        given to that walk at once. The others wait until the first of them runs out of
        patience; then walks (extended, or new) answer those that costs fewer requests for,
        and the runs out of patience that are left read for themselves."""
        self._planned = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._clock()
        if not self._urgent and not self._walks and now < self._next_due:
            # No walk to ride and nobody out of patience: every run waits as it was.
            if self._next_due < math.inf:
                self._wake_at(self._next_due - now)
            return
        self._urgent = False
        self._next_due = math.inf
        rest: list[tuple[float, str, RunState]] = []
        for run_id, run in list(self._pending.items()):
            if run.waiter is None or run.waiter.done():
                del self._pending[run_id]
                continue
            walk = self._free_ride(run, now)
            if walk is not None:
                del self._pending[run_id]
                self._assign(walk, run_id, run, depth_of(run, walk.total, self._interleave))
            elif run.direct:
                del self._pending[run_id]
                self.stats["direct"] += 1
                self._answer(run, SINGLE)
            else:
                rest.append((depth_of(run, self._submitted, self._interleave), run_id, run))
        if not rest:
            return
        first = min(run.plan_at for _, _, run in rest)
        if first > now:
            self._next_due = first
            self._wake_at(first - now)
            return
        rest.sort(key=lambda item: item[0])
        while rest:
            choice = self._best_walk(rest, now)
            if choice is None:
                break
            walk, start, count = choice
            for _, run_id, run in rest[start : start + count]:
                del self._pending[run_id]
                self._assign(walk, run_id, run, depth_of(run, walk.total, self._interleave))
            del rest[start : start + count]
            if walk.task is None:
                self._start(walk)
        waiting = []
        for _, run_id, run in rest:
            if run.plan_at <= now:
                del self._pending[run_id]
                self.stats["alone"] += 1
                self._alone(now)
                self._answer(run, SINGLE)
            else:
                waiting.append(run.plan_at)
        if waiting:  # patience left: they are planned again at the first deadline
            self._next_due = min(waiting)
            self._wake_at(self._next_due - now)

    def _wake_at(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._plan_soon)

    def _free_ride(self, run: RunState, now: float) -> Walk | None:
        """A walk under way that will pass the run anyway, soon enough (the closest one)."""
        best: Walk | None = None
        for walk in self._walks:
            depth = depth_of(run, walk.total, self._interleave)
            if (
                walk.position <= depth <= walk.target
                and reach_time(walk, depth, self._page, self._latency)
                <= budget(run, now, self._latency)
                and (best is None or walk.position > best.position)
            ):
                best = walk
        return best

    def _best_walk(
        self, rest: list[tuple[float, str, RunState]], now: float
    ) -> tuple[Walk, int, int] | None:
        """The walk (one under way, extended, or a new one from the top) and the slice of
        `rest` (sorted by depth) it should answer that saves the most requests over reading
        each run; None when no walk saves any. A walk reaches deep runs late (each page waits
        for the one before): the slice ends where a run would wait longer than its budget."""
        best: tuple[int, Walk, int, int] | None = None
        candidates = list(self._walks)
        if len(self._walks) < self._max_walks:
            candidates.append(Walk(total=self._submitted))
        for walk in candidates:
            shift = (self._submitted - walk.total) * self._interleave
            reach = max(walk.target, walk.position - 1.0)
            start = 0
            while start < len(rest) and rest[start][0] - shift < walk.position:
                start += 1  # passed already: only a later walk can see these
            for count, (estimate, _, run) in enumerate(rest[start:], 1):
                depth = estimate - shift
                if reach_time(walk, depth, self._page, self._latency) > budget(
                    run, now, self._latency
                ):
                    break
                pages = math.ceil((depth - reach) / self._page) if depth > reach else 0
                saving = count - pages
                if saving > 0 and (best is None or saving > best[0]):
                    best = (saving, walk, start, count)
        return None if best is None else best[1:]

    def _answer(self, run: RunState, answer: News | Single) -> None:
        if run.waiter is not None and not run.waiter.done():
            if run.walk is None:  # told to read for itself: its wait for company ends now
                run.waited = self._clock() - run.asked
            run.waiter.set_result(answer)

    def _alone(self, now: float) -> None:
        self._alone_streak += 1
        if self._alone_streak >= self._solo_after:
            self._alone_streak = 0
            self._solo_until = now + self._solo_seconds

    def _assign(self, walk: Walk, run_id: str, run: RunState, depth: float) -> None:
        self._alone_streak = 0  # company paid off
        run.waited = self._clock() - run.asked
        run.walk = walk
        run.estimate = depth
        walk.waiting.add(run_id)
        walk.target = max(walk.target, depth)

    def _start(self, walk: Walk) -> None:
        self._walks.append(walk)
        walk.task = asyncio.ensure_future(self._walk(walk))

    # ------------------------------------------------------------------ walking

    async def _walk(self, walk: Walk) -> None:
        token: str | None = None
        try:
            while walk.waiting:
                asked = self._clock()
                page = await self._app.list_runs_page(token)
                self._timed(asked)
                self.stats["pages"] += 1
                self._observe(walk, page)
                if self._pending:
                    self._urgent = True
                    self._plan_soon()  # runs waiting for company may ride this walk
                token = page.next_page_token or None
                if token is None:
                    break
                self._release_missed(walk)
        except Exception as exc:  # every run it was to answer sees the failure as its poll's
            for run_id in list(walk.waiting):
                run = self._runs.get(run_id)
                if run is not None and run.waiter is not None and not run.waiter.done():
                    run.waiter.set_exception(exc)
            walk.waiting.clear()
        finally:
            with contextlib.suppress(ValueError):
                self._walks.remove(walk)
            for run_id in list(walk.waiting):
                run = self._runs.get(run_id)
                if run is not None:
                    self._answer(run, SINGLE)
            walk.waiting.clear()

    def _observe(self, walk: Walk, page: RunsPage) -> None:
        now = self._clock()
        if page.next_page_token and page.runs:
            self._page = len(page.runs)  # a full page shows the server's page size
        for index, item in enumerate(page.runs):
            run = self._runs.get(item.id)
            if run is None or not run.listed:
                continue
            walk.ours += 1
            run.seen, run.seen_at = item.status_v2, now
            run.depth, run.depth_total = walk.position + index, walk.total
            if run.waiter is not None and not run.waiter.done():
                self._answer(run, News(item.status_v2))
            elif item.status_v2 in TERMINAL_STATUSES and run.sleeper is not None:
                self.stats["woken"] += 1
                _wake(run.sleeper)
        walk.position += len(page.runs)
        if walk.ours:
            self._interleave = max(1.0, walk.position / walk.ours)

    def _release_missed(self, walk: Walk) -> None:
        """Runs the walk has passed (a page beyond their estimate) without seeing them: their
        estimate was wrong, so they read for themselves."""
        limit = walk.position - self._page
        for run_id in list(walk.waiting):
            run = self._runs.get(run_id)
            if run is None or run.waiter is None or run.waiter.done():
                walk.waiting.discard(run_id)
            elif run.estimate < limit:
                walk.waiting.discard(run_id)
                self.stats["missed"] += 1
                self._answer(run, SINGLE)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)
