"""run_batch: many scenarios through one application, each run submitted exactly once and
polled by its own backoff coroutine, outcomes streamed as runs finish.

Scheduling: a semaphore bounds the runs in flight, and the scenario source is pulled only when a
slot is free, so memory follows `max_in_flight`, not the number of scenarios. Every request goes
through the client's transport (shared rate buckets, 429 cool-down).

Exactly-once: the journal row goes to "submitting" (committed) before the POST; after an
ambiguous answer (no answer, or a 5xx) or on resume of a "submitting" row, the run is looked up
by its deterministic name before anything is submitted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import random
import re
import secrets
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeVar

from asyncrun.batch.estimator import PollEstimator
from asyncrun.batch.journal import Journal, JournalRow, utc_now
from asyncrun.batch.outcome import ERROR, RunOutcome
from asyncrun.batch.pacing import PollPacer
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.scenario import Scenario, run_name
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    AsyncrunError,
    ConfigError,
    RateLimitError,
    ServerError,
)
from asyncrun.models import ContentFormat, StatusV2
from asyncrun.polling import PollingOptions, backoff_delay

__all__ = ["BATCH_POLLING", "BatchCounters", "Interrupt", "run_batch", "run_batch_all"]

logger = logging.getLogger("asyncrun")
T = TypeVar("T")

Interrupt = Literal["detach", "cancel"]

BATCH_POLLING = PollingOptions(
    initial_delay=1.0, delay=0.1, backoff=0.3, max_delay=10.0, jitter=0.2
)
"""Default polling of batch runs: until the estimator has data, a first poll after 1 s and a
gentle backoff (sleeps of about 0.8, 1.4, 2.6, 5, 10 s)."""

_SUBMIT_ATTEMPTS = 5
_READ_ATTEMPTS = 5
_LOOKUP_MARGIN = timedelta(minutes=10)  # clock skew allowed between us and the server
_TRANSIENT = (APIConnectionError, ServerError, RateLimitError)
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._=,+@-]")


class _FailedInFlight(Exception):
    """A submitted run's scenario failed (polling or fetching gave up); the cause is chained."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


@dataclass
class BatchCounters:
    """Live counts of a batch, for progress displays and tests. `max_ahead` is the largest
    number of scenarios pulled from the source and not yet finished at any moment."""

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

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.canceled + self.errors + self.skipped

    def pull(self) -> None:
        self.pulled += 1
        self.queued += 1
        self.max_ahead = max(self.max_ahead, self.pulled - self.finished)

    def finish(self, status: str, *, skipped: bool = False) -> None:
        if skipped:
            self.skipped += 1
        elif status == "succeeded":
            self.succeeded += 1
        elif status == "failed":
            self.failed += 1
        elif status == "canceled":
            self.canceled += 1
        else:
            self.errors += 1


def result_path(output_dir: Path, key: str) -> Path:
    """Where the result of `key` is written: its components made filesystem-safe (a hash is
    added when anything had to change, so two keys never share a file)."""
    parts = [_UNSAFE_PATH_CHARS.sub("_", p) or "_" for p in key.split("/")]
    parts = ["_" if p in (".", "..") else p for p in parts]
    safe = "/".join(parts)
    if safe != key:
        safe += "~" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return output_dir.joinpath(*safe.split("/")).with_name(safe.split("/")[-1] + ".json")


class _Batch:
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
    ) -> None:
        self.app = app
        self.journal = journal
        self.tag = batch_tag
        self.polling = polling
        self.estimator = PollEstimator() if adaptive else None
        self.output_dir = output_dir
        self.counters = counters
        self.rng = rng
        self.pacer = PollPacer(app.limits)
        self.draining = False  # every scenario pulled: only runs in flight are left
        self.slots = asyncio.Semaphore(max_in_flight)
        self.in_flight: dict[str, str] = {}  # key -> run id, for "cancel" on interrupt
        # key -> (run name, asked at): a run whose fate is not known yet (its POST, or the
        # lookup after an ambiguous one, has not answered); "cancel" looks these up by name
        self.submitting: dict[str, tuple[str, datetime]] = {}
        self.outcomes: asyncio.Queue[RunOutcome] = asyncio.Queue(maxsize=max_in_flight)

    # ------------------------------------------------------------------ driving

    async def drive(self, scenarios: Iterable[Any] | AsyncIterable[Any]) -> None:
        """Pull scenarios while slots are free; each becomes one task. A failing source stops
        the pulling; runs already in flight still finish, then the source's error is raised."""
        source_error: BaseException | None = None
        async with asyncio.TaskGroup() as tasks:
            iterator = _aiter(scenarios)
            while True:
                await self.slots.acquire()
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self.slots.release()
                    self.draining = True
                    break
                except Exception as exc:
                    self.slots.release()
                    source_error = exc
                    break
                self.counters.pull()
                tasks.create_task(self._one(item))
        if source_error is not None:
            raise source_error

    async def _one(self, item: Any) -> None:
        try:
            outcome = await self._scenario_outcome(item)
            await self.outcomes.put(outcome)
        finally:
            self.slots.release()

    async def _scenario_outcome(self, item: Any) -> RunOutcome:
        key = getattr(item, "key", None) or (item.get("key") if isinstance(item, dict) else "?")
        try:
            scenario = item if isinstance(item, Scenario) else Scenario.model_validate(item)
        except ValueError as exc:
            return self._finish(
                RunOutcome(
                    key=str(key),
                    run_name="",
                    run_id=None,
                    status=ERROR,
                    error=f"invalid scenario: {exc}",
                )
            )
        name = run_name(self.tag, scenario)
        try:
            return await self._run(scenario, name)
        except Exception as exc:
            # One scenario's failure never stops the batch: it becomes its outcome.
            run_id = exc.run_id if isinstance(exc, _FailedInFlight) else None
            cause = exc.__cause__ if isinstance(exc, _FailedInFlight) else exc
            logger.info("scenario %s: %s", scenario.key, cause)
            if run_id is None:
                self.counters.queued -= 1
            self.counters.finish(ERROR)
            return RunOutcome(
                key=scenario.key,
                run_name=name,
                run_id=run_id,
                status=ERROR,
                error=_describe(cause or exc),
            )

    def _finish(self, outcome: RunOutcome) -> RunOutcome:
        self.counters.queued -= 1
        self.counters.finish(outcome.status)
        return outcome

    # ------------------------------------------------------------------ one scenario

    async def _run(self, scenario: Scenario, name: str) -> RunOutcome:
        row, duplicate = await self.journal.claim(scenario.key, name)
        if duplicate:
            return self._finish(
                RunOutcome(
                    key=scenario.key,
                    run_name=name,
                    run_id=None,
                    status=ERROR,
                    error="duplicate scenario key in this batch",
                )
            )
        if row is not None and row.state == "terminal":
            self.counters.queued -= 1
            self.counters.finish(row.status or ERROR, skipped=True)
            return _outcome_of_row(row)
        attempts = row.attempts if row is not None else 0
        earlier = await self._earlier_run(scenario.key, name, row)
        resumed = earlier is not None
        submitted_at: datetime | None
        if earlier is None:
            run_id, submitted_at, attempts = await self._submit(scenario, name, attempts)
            # The run's age counts from the answer, not from the wait for a create token.
            started = time.monotonic()
        else:
            run_id, submitted_at = earlier
            started = _monotonic_of(submitted_at, time.monotonic())
        self.in_flight[scenario.key] = run_id
        self.counters.queued -= 1
        self.counters.running += 1
        try:
            return await self._await_end(
                scenario, name, run_id, submitted_at, started, attempts, resumed
            )
        except Exception as exc:
            self.in_flight.pop(scenario.key, None)
            self.counters.running -= 1
            raise _FailedInFlight(run_id) from exc

    async def _earlier_run(
        self, key: str, name: str, row: JournalRow | None
    ) -> tuple[str, datetime | None] | None:
        """The run an earlier process submitted for this key: the journal's ("submitted"), or
        the one found by name ("submitting": the POST may have reached the server)."""
        if row is None:
            return None
        if row.state == "submitted" and row.run_id:
            return row.run_id, row.submitted_at
        if row.state != "submitting":
            return None
        self.submitting[key] = (name, row.updated_at or utc_now())
        found = await self._lookup(name, row.updated_at)
        self.submitting.pop(key, None)
        if found is not None:
            self._known(key, found[0])
            await self.journal.update(
                key, state="submitted", run_id=found[0], submitted_at=found[1]
            )
        return found

    async def _submit(
        self, scenario: Scenario, name: str, attempts: int
    ) -> tuple[str, datetime, int]:
        kwargs = await _run_arguments(scenario)
        for _ in range(_SUBMIT_ATTEMPTS):
            attempts += 1
            asked = utc_now()
            # Durable before the POST: a crash from here on is reconciled by name.
            await self.journal.update(scenario.key, state="submitting", attempts=attempts)
            # Until its fate is known, an interrupt with "cancel" looks this run up by name.
            self.submitting[scenario.key] = (name, asked)
            try:
                run_id = await self.app.new_run(name=name, **kwargs)
            except (AmbiguousSubmitError, ServerError) as exc:
                logger.info("submit of %s was ambiguous (%s): looking it up", name, exc)
                found = await self._lookup_twice(name, asked, attempts)
                if found is None:
                    continue
                run_id = found[0]
            except Exception as exc:
                # A definite refusal: no run exists, so the next attempt may submit again.
                self.submitting.pop(scenario.key, None)
                await self.journal.update(scenario.key, state="pending", error=_describe(exc))
                raise
            self._known(scenario.key, run_id)
            submitted = utc_now()
            await self.journal.update(
                scenario.key, state="submitted", run_id=run_id, submitted_at=submitted
            )
            return run_id, submitted, attempts
        raise AsyncrunError(f"run {name!r} could not be submitted after {attempts} attempts")

    def _known(self, key: str, run_id: str) -> None:
        """The run of `key` exists: from now on an interrupt cancels it by id."""
        self.submitting.pop(key, None)
        self.in_flight[key] = run_id

    async def _lookup_twice(
        self, name: str, since: datetime, attempt: int
    ) -> tuple[str, datetime] | None:
        """Look the name up, and once more after a pause: a listing may lag behind a run
        created an instant ago, and submitting again on the first miss would duplicate it."""
        found = await self._lookup(name, since)
        if found is None:
            await asyncio.sleep(backoff_delay(self.polling, attempt, self.rng))
            found = await self._lookup(name, since)
        return found

    async def _lookup(self, name: str, since: datetime | None) -> tuple[str, datetime] | None:
        """The run already submitted under `name` (id, created time), or None."""
        after = since - _LOOKUP_MARGIN if since is not None else None
        runs = await self._reading(lambda: self.app.find_runs_by_name(name, created_after=after))
        if not runs:
            return None
        oldest = runs[-1]
        if len(runs) > 1:
            logger.warning("%d runs are named %r; using %s", len(runs), name, oldest.id)
        return oldest.id, oldest.created_at or utc_now()

    async def _await_end(
        self,
        scenario: Scenario,
        name: str,
        run_id: str,
        submitted_at: datetime | None,
        started: float,
        attempts: int,
        resumed: bool,
    ) -> RunOutcome:
        polls = [0]
        options = self.polling.model_copy(
            update={"sleep_duration_func": self._sleeper(started, polls)}
        )
        first = 0.0 if resumed else self._first_poll_after()
        info = await self.app.run_metadata_with_polling(run_id, options, first_poll_after=first)
        detected = utc_now()
        polls[0] += 1
        meta = info.metadata
        run_duration = meta.duration / 1000.0 if meta.duration else None
        finished = (
            meta.created_at + timedelta(seconds=run_duration)
            if meta.created_at is not None and run_duration is not None
            else None
        )
        self._observe(run_duration, time.monotonic() - started)
        result = None
        error = meta.error or None
        location = None
        status = str(meta.status_v2)
        if meta.status_v2 == StatusV2.succeeded:
            files_dir = self._files_dir(scenario.key, meta.output_type)
            result = await self._reading(
                lambda: self.app.run_result(run_id, info=info, output_dir=files_dir)
            )
        if self.output_dir is not None:
            location = await self._write_result(scenario.key, run_id, status, result, error)
        await self.journal.update(
            scenario.key,
            state="terminal",
            status=status,
            error=error,
            result_location=location,
            polls=polls[0],
            run_duration=run_duration,
            finished_at=finished,
            detected_at=detected,
        )
        self.in_flight.pop(scenario.key, None)
        self.counters.running -= 1
        self.counters.finish(status)
        return RunOutcome(
            key=scenario.key,
            run_name=name,
            run_id=run_id,
            status=status,
            result=result,
            error=error,
            submitted_at=submitted_at,
            finished_at=finished,
            detected_at=detected,
            run_duration=run_duration,
            polls=polls[0],
            attempts=attempts,
            resumed=resumed,
            result_location=location,
        )

    async def _reading(self, read: Callable[[], Awaitable[T]]) -> T:
        """A read the transport does not retry (a 500 answer) is retried here: the run is done
        and its result must not be lost to one bad answer."""
        for attempt in range(1, _READ_ATTEMPTS + 1):
            try:
                return await read()
            except _TRANSIENT:
                if attempt == _READ_ATTEMPTS:
                    raise
                await asyncio.sleep(backoff_delay(self.polling, attempt, self.rng))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ adaptive polling

    def _first_poll_after(self) -> float | None:
        return self.estimator.first_poll_after() if self.estimator is not None else None

    def _observe(self, server_seconds: float | None, seen_seconds: float) -> None:
        # The server's duration is exact but on the server's clock (scaled in the emulator);
        # ours includes detection lag. The smaller one is the better estimate.
        if self.estimator is None:
            return
        seconds = seen_seconds if server_seconds is None else min(server_seconds, seen_seconds)
        self.estimator.observe(seconds)

    def _sleeper(self, started: float, polls: list[int]) -> Any:
        due: float | None = None  # when the poll answered now was due to be sent

        def next_sleep() -> float:
            nonlocal due
            polls[0] += 1
            now = time.monotonic()
            if due is not None:
                self.pacer.record_latency(now - due)
            pause = self._next_pause(now - started, polls[0])
            due = now + pause
            return pause

        return next_sleep

    def _next_pause(self, age: float, polls: int) -> float:
        pause = backoff_delay(self.polling, polls, self.rng)
        if self.estimator is None:
            return pause
        advised = self.estimator.poll_interval(age)
        if advised is None:
            return pause
        if self.draining:  # spare capacity goes to the last runs, not to a steady state
            advised = self.pacer.pace(advised, age, self.counters.running)
        if self.estimator.within_range(age):
            pause = min(self.polling.max_delay, advised)
        else:
            pause = min(pause, advised)
        return max(pause, self.pacer.floor())

    # ------------------------------------------------------------------ results on disk

    def _files_dir(self, key: str, output_type: Any) -> Path | None:
        if self.output_dir is None or output_type == ContentFormat.json:
            return None
        return result_path(self.output_dir, key).with_suffix("")

    async def _write_result(
        self, key: str, run_id: str, status: str, result: Any, error: str | None
    ) -> str:
        path = result_path(self.output_dir or Path("."), key)
        if result is not None:
            document: Any = result.output
        else:
            document = {"run_id": run_id, "status": status, "error": error}
        await asyncio.to_thread(_write_json_atomically, path, document)
        return str(path)

    # ------------------------------------------------------------------ interrupts

    async def cancel_in_flight(self, deadline: float) -> tuple[int, int]:
        """PATCH cancel for every run in flight, shielded and bounded by `deadline` seconds.

        A scenario interrupted while its POST was unanswered may have created a run: it is
        looked up by name (twice, as after an ambiguous submit) and canceled when found.
        Returns (runs canceled, submissions whose run was not found before the deadline).
        """
        run_ids = list(self.in_flight.values())
        unanswered = list(self.submitting.values())
        if not run_ids and not unanswered:
            return 0, 0
        missed = [0]

        async def by_name(name: str, asked: datetime) -> None:
            found = await self._lookup_twice(name, asked, 1)
            if found is None:
                missed[0] += 1
                raise LookupError(name)
            await self.app.cancel_run(found[0])

        async def cancel_all() -> int:
            results = await asyncio.gather(
                *(self.app.cancel_run(r) for r in run_ids),
                *(by_name(name, asked) for name, asked in unanswered),
                return_exceptions=True,
            )
            return sum(1 for r in results if not isinstance(r, BaseException))

        task = asyncio.ensure_future(cancel_all())
        try:
            done, _ = await asyncio.shield(asyncio.wait({task}, timeout=deadline))
        except asyncio.CancelledError:
            # A second interrupt: still give the cancels their deadline, then re-raise.
            await asyncio.wait({task}, timeout=deadline)
            task.cancel()
            raise
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return 0, len(unanswered)
        return task.result(), missed[0]


# ---------------------------------------------------------------------- helpers


def _aiter(source: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(source, AsyncIterable):
        return aiter(source)

    async def from_sync() -> AsyncIterator[Any]:
        for item in source:
            yield item

    return from_sync()


async def _run_arguments(scenario: Scenario) -> dict[str, Any]:
    """Keyword arguments of new_run for a scenario (an input file is read in a thread)."""
    kwargs: dict[str, Any] = {
        "options": scenario.options or None,
        "instance_id": scenario.instance_id,
        "configuration": scenario.configuration,
    }
    if scenario.dir_path is not None:
        kwargs["dir_path"] = scenario.dir_path
    elif scenario.input_file is not None:
        kwargs["input"] = await asyncio.to_thread(_read_input_file, scenario.input_file)
    else:
        kwargs["input"] = scenario.input
    return kwargs


def _read_input_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read input file {str(path)!r}: {exc}") from None
    if path.suffix.lower() != ".json":
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(f"input file {str(path)!r} is not valid JSON") from None


def _write_json_atomically(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temp.open("w", encoding="utf-8") as sink:
            json.dump(document, sink, separators=(",", ":"))
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def _monotonic_of(when: datetime | None, default: float) -> float:
    """A wall-clock moment on the monotonic clock (for the age of a re-attached run)."""
    if when is None:
        return default
    age = (utc_now() - when).total_seconds()
    return time.monotonic() - max(0.0, age) if math.isfinite(age) else default


def _outcome_of_row(row: JournalRow) -> RunOutcome:
    return RunOutcome(
        key=row.key,
        run_name=row.run_name,
        run_id=row.run_id,
        status=row.status or ERROR,
        error=row.error,
        submitted_at=row.submitted_at,
        finished_at=row.finished_at,
        detected_at=row.detected_at,
        run_duration=row.run_duration,
        polls=row.polls,
        attempts=row.attempts,
        resumed=True,
        result_location=row.result_location,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


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
    command: Sequence[str] = (),
    counters: BatchCounters | None = None,
) -> AsyncGenerator[RunOutcome, None]:
    """Run every scenario (Scenario or dict, from a sync or async iterable of any length) and
    yield a RunOutcome as each run finishes.

    `journal`: an SQLite file that makes the batch resumable (run it again with the same file:
    finished scenarios are skipped, runs in flight re-attached, only what never reached the
    cloud is submitted). `batch_tag` prefixes every run name (stored in the journal; random when
    not given). `on_interrupt` applies when the iteration is cancelled or closed early:
    "detach" stops polling and keeps the journal; "cancel" also cancels every run in flight
    (shielded, within `cancel_deadline` seconds). `output_dir`: one result file per scenario.
    `command` is stored in the journal as the command that resumes the batch.
    """
    if max_in_flight < 1:
        raise ConfigError("max_in_flight must be >= 1")
    if on_interrupt not in ("detach", "cancel"):
        raise ConfigError("on_interrupt must be 'detach' or 'cancel'")
    counters = counters if counters is not None else BatchCounters()
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
        )
        stream = _stream(batch, scenarios, on_interrupt, cancel_deadline)
        async with contextlib.aclosing(stream):
            async for outcome in stream:
                yield outcome


async def _stream(
    batch: _Batch,
    scenarios: Iterable[Any] | AsyncIterable[Any],
    on_interrupt: Interrupt,
    cancel_deadline: float,
) -> AsyncGenerator[RunOutcome, None]:
    driver = asyncio.ensure_future(batch.drive(scenarios))
    finished = False
    try:
        while True:
            getter = asyncio.ensure_future(batch.outcomes.get())
            try:
                await asyncio.wait({getter, driver}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                yield getter.result()
                continue
            if driver.done():
                while not batch.outcomes.empty():
                    yield batch.outcomes.get_nowait()
                finished = True
                driver.result()  # the source's error, if it failed
                return
    finally:
        if not finished:
            await _interrupt(batch, driver, on_interrupt, cancel_deadline)


async def _interrupt(
    batch: _Batch, driver: asyncio.Future[None], policy: Interrupt, deadline: float
) -> None:
    """Stop the batch early: stop submitting and polling (runs keep going in the cloud); with
    "cancel", then cancel every run in flight. The journal keeps what is needed to resume."""
    driver.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.shield(driver)
    if policy == "cancel":
        canceled, missed = await batch.cancel_in_flight(deadline)
        logger.warning("batch interrupted: %d runs in flight canceled", canceled)
        if missed:
            logger.warning(
                "%d submissions were unanswered and their runs not found; their journal rows "
                "stay 'submitting': `asyncrun cancel --journal` or a resume reconciles them",
                missed,
            )
    else:
        logger.warning(
            "batch interrupted: %d runs left running (detached); resume with the same journal",
            len(batch.in_flight),
        )


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
    command: Sequence[str] = (),
    counters: BatchCounters | None = None,
) -> list[RunOutcome]:
    """run_batch, collected: every outcome, in the order of the scenarios."""
    order: dict[str, int] = {}

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
            command=command,
            counters=counters,
        )
    ]
    outcomes.sort(key=lambda o: order.get(o.key, len(order)))
    return outcomes
