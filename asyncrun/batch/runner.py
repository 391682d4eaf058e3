"""run_batch: many scenarios through one application, each run submitted exactly once and
polled until it is final, outcomes streamed as runs finish.

Scheduling: a semaphore bounds the runs in flight, and the scenario source is pulled only when a
slot is free, so memory follows `max_in_flight`, not the number of scenarios. Every request goes
through the application (for AsyncApplication: the client's transport, shared rate buckets, 429
cool-down).

This module drives the batch: it pulls scenarios while slots are free, streams the outcomes and
stops early on an interrupt. The parts live next to it: `lifecycle.py` (one scenario from pulled
to outcome), `submission.py` (exactly-once submission and reconcile-by-name), `schedule.py`
(when runs are polled), `results.py` (result files), `interrupts.py` (stopping early,
canceling), `counters.py` (the live counts), `reconcile.py` (when a lost submit may be looked
up) and `sweep.py` (the end-of-batch duplicate sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import secrets
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from asyncrun.batch import results
from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.failfast import UNREACHABLE_AFTER, FailFast
from asyncrun.batch.interrupts import InFlight, Interrupt, cancel_in_flight, interrupt
from asyncrun.batch.journal import Journal
from asyncrun.batch.lifecycle import Lifecycle
from asyncrun.batch.outcome import DuplicateRun, RunOutcome
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.reconcile import SUBMIT_MARGIN
from asyncrun.batch.schedule import BATCH_POLLING, MAX_INLINE, PollSchedule
from asyncrun.batch.shared_inputs import SharedInputs
from asyncrun.batch.status_reads import StatusReads
from asyncrun.batch.submission import Submission, read_with_retries
from asyncrun.batch.sweep import EarlyListing, list_early, sweep_duplicates
from asyncrun.config import Limits
from asyncrun.errors import AsyncrunError, BatchAbortedError, ConfigError
from asyncrun.polling import PollingOptions

__all__ = ["BATCH_POLLING", "BatchCounters", "Interrupt", "run_batch", "run_batch_all"]

logger = logging.getLogger("asyncrun")
T = TypeVar("T")

SUBMIT_WINDOW_MIN = 64


class _Batch:
    """One batch being driven: its parts, the slots bounding the runs in flight, and the queue
    of outcomes the stream hands out."""

    def __init__(
        self,
        app: BatchApplication,
        journal: Journal,
        *,
        batch_tag: str,
        max_in_flight: int,
        polling: PollingOptions,
        adaptive: bool,
        output_dir: Path | None,
        counters: BatchCounters,
        rng: random.Random,
        unreachable_after: float,
        fetch_results: bool = True,
        submit_margin: float = SUBMIT_MARGIN,
    ) -> None:
        self.app = app
        self.journal = journal
        self.counters = counters
        self.polling = polling
        self.rng = rng
        self.in_flight = InFlight()
        self.failfast = FailFast(app, unreachable_after=unreachable_after, rng=rng)
        self.inputs = SharedInputs(app, journal, batch_tag=batch_tag, polling=polling, rng=rng)
        self.slots = asyncio.Semaphore(max_in_flight)
        # Scenarios pulled and not submitted yet: a few times what the connections carry at
        # once. Pulling thousands ahead of their POSTs only held their inputs, tasks and
        # journal rows in memory, and queued their POSTs behind thousands of journal writes.
        self.window = asyncio.Semaphore(min(max_in_flight, submit_window(app.limits)))
        self.submission = Submission(
            app,
            journal,
            self.in_flight,
            failfast=self.failfast,
            polling=polling,
            rng=rng,
            inputs=self.inputs,
            slots=(self.slots, self.window),
            submit_margin=submit_margin,
            counters=counters,
        )
        self.reads = StatusReads(app, max_inline=MAX_INLINE)
        self.schedule = PollSchedule(
            polling,
            adaptive=adaptive,
            limits=app.limits,
            counters=counters,
            rng=rng,
            reads=self.reads,
            results=fetch_results or output_dir is not None,
        )
        self.lifecycle = Lifecycle(
            app,
            journal,
            batch_tag=batch_tag,
            submission=self.submission,
            failfast=self.failfast,
            schedule=self.schedule,
            in_flight=self.in_flight,
            output_dir=output_dir,
            counters=counters,
            polling=polling,
            rng=rng,
            fetch_results=fetch_results,
            submitted=self.all_submitted,
        )
        self.outcomes: asyncio.Queue[RunOutcome] = asyncio.Queue(maxsize=max_in_flight)
        self._early: asyncio.Future[EarlyListing] | None = None
        self._began_at: datetime | None = None

    # ------------------------------------------------------------------ driving

    async def drive(self, scenarios: Iterable[Any] | AsyncIterable[Any]) -> None:
        """Pull scenarios while slots are free; each becomes one task. A failing source stops
        the pulling; runs already in flight still finish, then the source's error is raised."""
        source_error: BaseException | None = None
        async with asyncio.TaskGroup() as tasks:
            iterator = _aiter(scenarios)
            while True:
                await self.slots.acquire()
                await self.window.acquire()
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self.slots.release()
                    self.window.release()
                    self.schedule.draining = True  # only runs in flight are left
                    self.all_submitted()
                    break
                except Exception as exc:
                    self.slots.release()
                    self.window.release()
                    source_error = exc
                    break
                self.counters.move(None, "queued")
                tasks.create_task(self._one(item))
                del item  # the task holds it until its run is submitted; this frame must not
        if source_error is not None:
            raise source_error

    async def _one(self, item: Any) -> None:
        entry = _WindowEntry(self.window)
        try:
            # The lifecycle lets go of the scenario once its run is submitted (an input may be
            # large, and thousands of runs are in flight), and so does this frame.
            pending = self.lifecycle.outcome(item, on_submitted=entry.leave)
            del item
            outcome = await pending
            entry.leave()  # before a put that may wait for a slow consumer
            await self.outcomes.put(outcome)
        finally:
            entry.leave()
            self.slots.release()

    # ------------------------------------------------------------------ the end

    async def sweep(self) -> None:
        """Once every scenario is final: cancel extra runs of the batch's names (sweep.py). A
        sweep that fails is logged, not raised: the outcomes stand, and a resume sweeps again.
        Skipped when no duplicate can exist (`sweep_needed`)."""
        if not self.sweep_needed():
            return
        began = await self._began()
        early = await self._early_listing()
        try:
            found = await sweep_duplicates(
                self.app,
                self.journal,
                tag=self.lifecycle.tag,
                began=began,
                reading=self._reading,
                cancel=lambda run_id: self._reading(lambda: self.app.cancel_run(run_id)),
                early=early,
            )
        except AsyncrunError as exc:  # transient errors included, once retries ran out
            logger.warning("the duplicate sweep failed (%s); a resume sweeps again", exc)
            return
        self.counters.duplicate_runs.extend(found)

    async def _began(self) -> datetime:
        """When the batch began (the journal's creation): read once, for the early listing
        and the end's sweep."""
        if self._began_at is None:
            meta = await self.journal.meta()
            self._began_at = _parse_time(meta.get("created_at")) or self.journal.opened_at
        return self._began_at

    def all_submitted(self) -> None:
        """Once the source ran dry and every scenario pulled has been submitted (called then,
        and after each submission), the sweep's listing is begun: the end then lists only the
        runs created since. Not when no submission got through (nothing to sweep early), nor
        when no duplicate can exist (`sweep_needed`)."""
        if (
            self._early is None
            and self.schedule.draining
            and self.counters.queued == 0
            and self.sweep_needed()
        ):
            self._early = asyncio.ensure_future(self._list_early())

    def sweep_needed(self) -> bool:
        """Whether a duplicate can exist: not when the journal had no scenario before this
        session (no earlier process sent a POST for it) and every POST of this one was
        answered (a run id, or a refusal that made no run). Then every name has one run, and
        the sweep's listing (200 pages for 10,000 runs, the batch waiting for the last of
        them) is skipped."""
        return not self.journal.fresh or self.submission.in_doubt > 0

    async def _list_early(self) -> EarlyListing:
        """The sweep's listing, taken once the source is exhausted: while the last runs are
        polled, the end then lists only the runs created since (sweep.py)."""
        began = await self._began()
        tag = self.lifecycle.tag
        return await self._reading(lambda: list_early(self.app, tag=tag, began=began))

    async def _early_listing(self) -> EarlyListing | None:
        """The early listing, or None when there is none or it failed (the end then lists
        the whole batch)."""
        task, self._early = self._early, None
        if task is None:
            return None
        try:
            return await task
        except AsyncrunError as exc:
            logger.info("the early listing of the duplicate sweep failed (%s)", exc)
            return None

    async def stop_early_listing(self) -> None:
        """An early listing still under way when the batch stops without its sweep."""
        task, self._early = self._early, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _reading(self, read: Callable[[], Awaitable[T]]) -> T:
        return await read_with_retries(read, self.polling, self.rng)


# ---------------------------------------------------------------------- helpers


def submit_window(limits: Limits) -> int:
    """How many scenarios may be pulled ahead of their submission."""
    return max(SUBMIT_WINDOW_MIN, 2 * limits.max_connections)


class _WindowEntry:
    """One scenario's place in the submission window, given back once."""

    __slots__ = ("_window",)

    def __init__(self, window: asyncio.Semaphore) -> None:
        self._window: asyncio.Semaphore | None = window

    def leave(self) -> None:
        window, self._window = self._window, None
        if window is not None:
            window.release()


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _aiter(source: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(source, AsyncIterable):
        return aiter(source)

    async def from_sync() -> AsyncIterator[Any]:
        for item in source:
            yield item

    return from_sync()


def new_batch_tag() -> str:
    """A fresh batch tag: `asyncrun-` and 8 random hex digits."""
    return f"asyncrun-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------- public API


async def run_batch(
    app: BatchApplication,
    scenarios: Iterable[Any] | AsyncIterable[Any],
    *,
    max_in_flight: int = 100,
    journal: str | PathLike[str] | None = None,
    on_interrupt: Interrupt = "detach",
    batch_tag: str | None = None,
    polling_options: PollingOptions | None = None,
    output_dir: str | PathLike[str] | None = None,
    adaptive_polling: bool = True,
    cancel_deadline: float = 30.0,
    unreachable_after: float = UNREACHABLE_AFTER,
    command: Sequence[str] = (),
    counters: BatchCounters | None = None,
    fetch_results: bool = True,
    submit_margin: float = SUBMIT_MARGIN,
) -> AsyncGenerator[RunOutcome, None]:
    """Run every scenario (Scenario or dict, from a sync or async iterable of any length) and
    yield a RunOutcome as each run finishes.

    `journal`: an SQLite file that makes the batch resumable (run it again with the same file:
    finished scenarios are skipped, runs in flight re-attached, only what never reached the
    cloud is submitted). `batch_tag` prefixes every run name (stored in the journal; random when
    not given). `on_interrupt` applies when the iteration is cancelled or closed early:
    "detach" stops polling and keeps the journal; "cancel" also cancels every run in flight
    (shielded, within `cancel_deadline` seconds). `output_dir`: one result file per scenario;
    the folder is created and a probe file written in it before anything is sent (ConfigError
    when it cannot be); a result that cannot be written later is the outcome's `write_error`,
    and its run stays in the journal for a resume to write it.

    A failure no scenario can get past stops the batch at once and raises BatchAbortedError
    (after the outcomes already finished): a refused key (401/403), an unknown application,
    or an API that could not be connected to for `unreachable_after` seconds. Nothing is
    canceled and no scenario is marked as failed for it; the journal resumes.
    `command` is stored in the journal as the command that resumes the batch.
    `fetch_results=False` reads no results (without `output_dir`): each outcome has the run's
    metrics and their value, and `outcome.fetch_result()` reads the result when asked.
    `submit_margin`: seconds a server may still act on a POST after the client's connect and
    read timeouts (reconcile.py); a submit whose answer was lost is looked up by name only
    after them. When every scenario is final, the batch's own runs are listed once and any
    extra run of a name is canceled (`counters.duplicate_runs`; see sweep.py).
    """
    if max_in_flight < 1:
        raise ConfigError("max_in_flight must be >= 1")
    if on_interrupt not in ("detach", "cancel"):
        raise ConfigError("on_interrupt must be 'detach' or 'cancel'")
    if not submit_margin >= 0:
        raise ConfigError("submit_margin must be >= 0 seconds")
    counters = counters if counters is not None else BatchCounters()
    if output_dir is not None:  # checked by doing, before anything is sent
        await asyncio.to_thread(results.prepare_output_dir, Path(output_dir))
    async with Journal(journal) as book:
        tag = await book.begin(
            app_id=app.id, batch_tag=batch_tag, default_tag=new_batch_tag(), command=command
        )
        batch = _Batch(
            app,
            book,
            batch_tag=tag,
            max_in_flight=max_in_flight,
            polling=polling_options or BATCH_POLLING,
            adaptive=adaptive_polling,
            output_dir=Path(output_dir) if output_dir is not None else None,
            counters=counters,
            rng=random.Random(),
            unreachable_after=unreachable_after,
            fetch_results=fetch_results,
            submit_margin=submit_margin,
        )
        stream = _stream(batch, scenarios, on_interrupt, cancel_deadline)
        try:
            async with contextlib.aclosing(stream):
                async for outcome in stream:
                    yield outcome
        finally:
            await batch.inputs.aclose()
            await batch.failfast.aclose()


async def _stream(
    batch: _Batch,
    scenarios: Iterable[Any] | AsyncIterable[Any],
    on_interrupt: Interrupt,
    cancel_deadline: float,
) -> AsyncGenerator[RunOutcome, None]:
    driver = asyncio.ensure_future(batch.drive(scenarios))
    watch = asyncio.ensure_future(batch.failfast.watch())  # raises when the API is unreachable
    finished = False
    outcomes = batch.outcomes
    try:
        while True:
            # Every outcome that is ready goes out at once: a wait per outcome let thousands
            # of finished runs (and their results) queue up behind a busy loop.
            while not outcomes.empty():
                yield outcomes.get_nowait()
            getter = asyncio.ensure_future(outcomes.get())
            try:
                await asyncio.wait({getter, driver, watch}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                yield getter.result()
                continue
            if watch.done():  # stop like a detach: runs keep going, the journal resumes
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.shield(driver)
            if driver.done():
                while not outcomes.empty():
                    yield outcomes.get_nowait()
                finished = True
                if watch.done():
                    watch.result()
                _raise_from(driver)
                await batch.sweep()
                return
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        if not finished:
            await interrupt(
                driver,
                on_interrupt,
                lambda: cancel_in_flight(
                    batch.app, batch.in_flight, batch.submission.find_to_cancel, cancel_deadline
                ),
                batch.in_flight,
            )
        await batch.reads.aclose()  # walks still under way answer no one now
        await batch.submission.earlier.aclose()
        await batch.stop_early_listing()


def _raise_from(driver: asyncio.Future[None]) -> None:
    """The driver's error, if it failed: the source's, or the BatchAbortedError a scenario task
    raised (the task group wraps it in an exception group)."""
    try:
        driver.result()
    except BaseExceptionGroup as group:
        matched, _ = group.split(BatchAbortedError)
        if matched is None:
            raise
        first: BaseException = matched
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__


async def run_batch_all(
    app: BatchApplication,
    scenarios: Iterable[Any] | AsyncIterable[Any],
    *,
    max_in_flight: int = 100,
    journal: str | PathLike[str] | None = None,
    on_interrupt: Interrupt = "detach",
    batch_tag: str | None = None,
    polling_options: PollingOptions | None = None,
    output_dir: str | PathLike[str] | None = None,
    adaptive_polling: bool = True,
    cancel_deadline: float = 30.0,
    unreachable_after: float = UNREACHABLE_AFTER,
    command: Sequence[str] = (),
    counters: BatchCounters | None = None,
    fetch_results: bool = True,
    submit_margin: float = SUBMIT_MARGIN,
) -> list[RunOutcome]:
    """run_batch, collected: every outcome, in the order of the scenarios, each with the
    extra runs of its name the end-of-batch sweep found (`duplicates`)."""
    order: dict[str, int] = {}
    counters = counters if counters is not None else BatchCounters()

    async def numbered() -> AsyncIterator[Any]:
        async for item in _aiter(scenarios):
            key = getattr(item, "key", None) or (item.get("key") if isinstance(item, dict) else "")
            order.setdefault(str(key), len(order))
            yield item

    outcomes = [
        o
        async for o in run_batch(
            app,
            numbered(),
            max_in_flight=max_in_flight,
            journal=journal,
            on_interrupt=on_interrupt,
            batch_tag=batch_tag,
            polling_options=polling_options,
            output_dir=output_dir,
            adaptive_polling=adaptive_polling,
            cancel_deadline=cancel_deadline,
            unreachable_after=unreachable_after,
            command=command,
            counters=counters,
            fetch_results=fetch_results,
            submit_margin=submit_margin,
        )
    ]
    outcomes.sort(key=lambda o: order.get(o.key, len(order)))
    found: dict[str, list[DuplicateRun]] = {}
    for duplicate in counters.duplicate_runs:
        found.setdefault(duplicate.key, []).append(duplicate)
    return [
        dataclasses.replace(o, duplicates=tuple(found[o.key])) if o.key in found else o
        for o in outcomes
    ]
