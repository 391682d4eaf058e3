"""One scenario's life in a batch: validated, claimed in the journal, submitted exactly once
(or re-attached to the run an earlier process submitted), polled until final, its result fetched
and written, its journal row made terminal, and its counts moved. Whatever goes wrong becomes
the scenario's outcome: one scenario's failure never stops the batch.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asyncrun.batch import results
from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.failfast import FailFast
from asyncrun.batch.interrupts import InFlight
from asyncrun.batch.journal import Journal, JournalRow, utc_now
from asyncrun.batch.outcome import ERROR, RunOutcome
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.scenario import Scenario, run_name
from asyncrun.batch.schedule import PollSchedule
from asyncrun.batch.submission import Submission, describe, read_with_retries
from asyncrun.batch.sweep import duplicates_of
from asyncrun.errors import BatchAbortedError
from asyncrun.models import ContentFormat, RunInformation, RunResult, StatusV2
from asyncrun.polling import PollingOptions

__all__ = ["Lifecycle"]

logger = logging.getLogger("asyncrun")


class _FailedInFlight(Exception):
    """A submitted run's scenario failed (polling or fetching gave up); the cause is chained."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


class Lifecycle:
    """Takes the scenarios of one batch from pulled to outcome."""

    def __init__(
        self,
        app: BatchApplication,
        journal: Journal,
        *,
        batch_tag: str,
        submission: Submission,
        failfast: FailFast,
        schedule: PollSchedule,
        in_flight: InFlight,
        output_dir: Path | None,
        counters: BatchCounters,
        polling: PollingOptions,
        rng: random.Random,
        fetch_results: bool = True,
        submitted: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.journal = journal
        self.tag = batch_tag
        self.submission = submission
        self.failfast = failfast
        self.schedule = schedule
        self.in_flight = in_flight
        self.output_dir = output_dir
        self.counters = counters
        self.polling = polling
        self.rng = rng
        self.submitted = submitted  # told after each run submitted (or re-attached)
        # Result files need the results; without them, metrics give the value.
        self.fetch_results = fetch_results or output_dir is not None

    async def outcome(
        self, item: Any, *, on_submitted: Callable[[], None] | None = None
    ) -> RunOutcome:
        """The outcome of one scenario (a Scenario or a dict) pulled from the source.
        `on_submitted`: told once its run is submitted (or re-attached), while it is polled."""
        key = getattr(item, "key", None) or (item.get("key") if isinstance(item, dict) else "?")
        try:
            scenario = item if isinstance(item, Scenario) else Scenario.model_validate(item)
        except ValueError as exc:
            self.counters.move("queued", ERROR)
            return RunOutcome(
                key=str(key),
                run_name="",
                run_id=None,
                status=ERROR,
                error=f"invalid scenario: {exc}",
            )
        name = run_name(self.tag, scenario)
        key = scenario.key
        # The scenario (its input may be large) is let go of once its run is submitted: only
        # `_run` holds it, until then.
        run = self._run(scenario, name, on_submitted)
        del item, scenario
        try:
            return await run
        except BatchAbortedError:
            raise
        except Exception as exc:
            # One scenario's failure never stops the batch: it becomes its outcome. Unless no
            # scenario can get past it (failfast.py): then the batch stops.
            run_id = exc.run_id if isinstance(exc, _FailedInFlight) else None
            cause = exc.__cause__ if isinstance(exc, _FailedInFlight) else exc
            await self.failfast.check(cause or exc, submitting=run_id is None)
            logger.info("scenario %s: %s", key, cause)
            self.counters.move("queued" if run_id is None else "running", ERROR)
            return RunOutcome(
                key=key,
                run_name=name,
                run_id=run_id,
                status=ERROR,
                error=describe(cause or exc),
            )

    async def _run(
        self, scenario: Scenario, name: str, on_submitted: Callable[[], None] | None
    ) -> RunOutcome:
        row, duplicate = await self.journal.claim(scenario.key, name)
        if duplicate:
            self.counters.move("queued", ERROR)
            return RunOutcome(
                key=scenario.key,
                run_name=name,
                run_id=None,
                status=ERROR,
                error="duplicate scenario key in this batch",
            )
        if row is not None and row.state == "terminal":
            self.counters.move("queued", "skipped")
            return await self._earlier_outcome(scenario, row)
        attempts = row.attempts if row is not None else 0
        earlier = await self.submission.earlier_run(scenario.key, name, row)
        resumed = earlier is not None
        submitted_at: datetime | None
        if earlier is None:
            run_id, submitted_at, attempts = await self.submission.submit(scenario, name, attempts)
            # The run's age counts from the answer, not from the wait for a create token.
            started = time.monotonic()
        else:
            run_id, submitted_at = earlier
            started = _monotonic_of(submitted_at, time.monotonic())
        key, instance_id = scenario.key, scenario.instance_id
        self.in_flight.known(key, run_id)
        self.counters.move("queued", "running")
        if on_submitted is not None:
            on_submitted()
        if self.submitted is not None:
            self.submitted()
        end = self._await_end(
            key, instance_id, name, run_id, submitted_at, started, attempts, resumed
        )
        del scenario  # submitted: its input is not needed any more
        try:
            return await end
        except Exception as exc:
            self.in_flight.done(key)
            raise _FailedInFlight(run_id) from exc

    async def _await_end(
        self,
        key: str,
        instance_id: str | None,
        name: str,
        run_id: str,
        submitted_at: datetime | None,
        started: float,
        attempts: int,
        resumed: bool,
    ) -> RunOutcome:
        info, polls = await self.schedule.wait_final(
            self.app, run_id, started=started, resumed=resumed
        )
        detected = utc_now()
        meta = info.metadata
        run_duration = meta.duration / 1000.0 if meta.duration else None
        finished = (
            meta.created_at + timedelta(seconds=run_duration)
            if meta.created_at is not None and run_duration is not None
            else None
        )
        self.schedule.observe(run_duration, time.monotonic() - started)
        result = None
        error = meta.error or None
        location = None
        status = str(meta.status_v2)
        if meta.status_v2 == StatusV2.succeeded:
            if isinstance(info, RunResult) and meta.output_type == ContentFormat.json:
                result = info  # the last poll was the result read
            elif self.fetch_results:
                result = await self._read_result(key, run_id, info)
            if self.fetch_results:  # else no poll may become a result read
                self.schedule.saw_output(meta)
        if self.output_dir is not None:
            try:
                location = await results.write_result(
                    self.output_dir, key, run_id, status, result, error
                )
            except OSError as exc:
                # The run is done but the scenario is not: its row stays "submitted" with the
                # run id, and a resume writes the file. Not the batch's failure, nor an error
                # of the run.
                self.in_flight.done(key)
                self.counters.move("running", ERROR)
                return _unwritten(
                    self.output_dir, key, name, run_id, status, exc, attempts, resumed=resumed
                )
        await self.journal.finish(
            key,
            metrics=meta.metrics,
            statistics=meta.statistics,
            state="terminal",
            status=status,
            error=error,
            result_location=location,
            polls=polls,
            run_duration=run_duration,
            finished_at=finished,
            detected_at=detected,
        )
        self.in_flight.done(key)
        self.counters.move("running", status)
        return RunOutcome(
            key=key,
            run_name=name,
            run_id=run_id,
            status=status,
            result=result,
            error=error,
            submitted_at=submitted_at,
            finished_at=finished,
            detected_at=detected,
            run_duration=run_duration,
            polls=polls,
            attempts=attempts,
            resumed=resumed,
            result_location=location,
            instance_id=instance_id,
            metrics=meta.metrics,
            statistics=meta.statistics,
            fetcher=None if result is not None else self._fetcher(key, run_id),
        )

    async def _read_result(self, key: str, run_id: str, info: RunInformation) -> RunResult:
        files_dir = results.files_dir(self.output_dir, key, info.metadata.output_type)
        return await read_with_retries(
            lambda: self.app.run_result(run_id, info=info, output_dir=files_dir),
            self.polling,
            self.rng,
        )

    def _fetcher(self, key: str, run_id: str) -> Callable[[], Awaitable[RunResult]]:
        """Reads the result of a finished run later, when asked (RunOutcome.fetch_result)."""

        async def fetch() -> RunResult:
            app = self.app
            info = await read_with_retries(lambda: app.run_metadata(run_id), self.polling, self.rng)
            return await self._read_result(key, run_id, info)

        return fetch

    async def _earlier_outcome(self, scenario: Scenario, row: JournalRow) -> RunOutcome:
        """A scenario finished in an earlier session: its journal row, metrics and a fetcher;
        with result files, the file is written now if it is missing (a new --out, a file
        removed), so the files stay complete across resumes."""
        metrics, statistics = await self.journal.metrics_of(row.key)
        fetcher = self._fetcher(row.key, row.run_id) if row.run_id else None
        result, location = None, row.result_location
        if (
            self.output_dir is not None
            and row.run_id
            and not _exists(results.result_path(self.output_dir, row.key))
        ):
            if row.status == StatusV2.succeeded and fetcher is not None:
                result = await fetcher()
            status = row.status or ERROR
            try:
                location = await results.write_result(
                    self.output_dir, row.key, row.run_id, status, result, row.error
                )
            except OSError as exc:
                return _unwritten(
                    self.output_dir,
                    row.key,
                    row.run_name,
                    row.run_id,
                    status,
                    exc,
                    row.attempts,
                    resumed=True,
                )
            await self.journal.update(row.key, result_location=location)
        return RunOutcome(
            key=row.key,
            run_name=row.run_name,
            run_id=row.run_id,
            status=row.status or ERROR,
            result=result,
            error=row.error,
            submitted_at=row.submitted_at,
            finished_at=row.finished_at,
            detected_at=row.detected_at,
            run_duration=row.run_duration,
            polls=row.polls,
            attempts=row.attempts,
            resumed=True,
            result_location=location,
            instance_id=scenario.instance_id,
            metrics=metrics,
            statistics=statistics,
            fetcher=fetcher,
            duplicates=duplicates_of(row.duplicates),
        )


def _unwritten(
    output_dir: Path,
    key: str,
    name: str,
    run_id: str,
    status: str,
    exc: OSError,
    attempts: int,
    *,
    resumed: bool,
) -> RunOutcome:
    """The outcome of a scenario whose run ended but whose result file could not be written."""
    path = results.result_path(output_dir, key)
    reason = results.unwritable(exc, path.parent)
    why = f"{path}: {reason}"
    logger.warning(
        "result of %s not written: %s (a resume writes it)",
        key,
        why,
        extra={"problem": f"result not written: {exc.strerror}"},
    )
    return RunOutcome(
        key=key,
        run_name=name,
        run_id=run_id,
        status=ERROR,
        error=(
            f"result file not written ({reason}); the run {status}, its id "
            "is kept in the journal and a resume with the same journal writes the file"
        ),
        attempts=attempts,
        resumed=resumed,
        write_error=why,
    )


def _monotonic_of(when: datetime | None, default: float) -> float:
    """A wall-clock moment on the monotonic clock (for the age of a re-attached run)."""
    if when is None:
        return default
    age = (utc_now() - when).total_seconds()
    return time.monotonic() - max(0.0, age) if math.isfinite(age) else default


def _exists(path: Path) -> bool:
    return path.exists()
