"""Exactly-once submission: each scenario's run is created at most once, across retries, crashes
and resumes.

The journal row goes to "submitting" (committed) before the POST; after an ambiguous answer (no
answer, or a 5xx) the run is looked up by its deterministic name before anything is submitted
again, once the POST's deadline has passed (reconcile.py): a server may still act on a request
whose client is gone. On resume, the "submitting" rows an earlier process left are looked up at
once (one listing for all of them); only a name not found waits for its deadline and is looked
up again. While it waits, the scenario gives its slot up, so other scenarios go on, and the
batch's counters say how many wait and until when. A definite refusal puts the row back to
"pending".
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from asyncrun._retry import Failure, is_transient, no_pause, retry_transient, retrying
from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.failfast import FailFast
from asyncrun.batch.interrupts import InFlight
from asyncrun.batch.journal import Journal, JournalRow, utc_now
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.reconcile import (
    LOOKUP_MARGIN,
    SUBMIT_MARGIN,
    InDoubtListing,
    post_life,
    resume_deadline,
)
from asyncrun.batch.scenario import Scenario
from asyncrun.batch.shared_inputs import SharedInputs
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIStatusError,
    AsyncrunError,
    BatchAbortedError,
    ConfigError,
    InputError,
    ServerError,
    UploadError,
)
from asyncrun.polling import PollingOptions, backoff_delay

__all__ = ["Submission", "describe", "read_with_retries"]

logger = logging.getLogger("asyncrun")
T = TypeVar("T")

_SUBMIT_ATTEMPTS = 5
_READ_ATTEMPTS = 5
# A lookup after an unanswered submit is the only way to learn the run's fate, so it outlasts
# a longer outage than a read does (about a minute with the default polling backoff).
_LOOKUP_ATTEMPTS = 10


class Submission:
    """Submits the runs of one batch and reconciles unknown fates by run name. Every run whose
    creation may be under way is registered in `in_flight` (an interrupt cancels it)."""

    def __init__(
        self,
        app: BatchApplication,
        journal: Journal,
        in_flight: InFlight,
        *,
        failfast: FailFast,
        polling: PollingOptions,
        rng: random.Random,
        inputs: SharedInputs,
        slots: tuple[asyncio.Semaphore, ...] = (),
        submit_margin: float = SUBMIT_MARGIN,
        counters: BatchCounters | None = None,
    ) -> None:
        self.app = app
        self.journal = journal
        self.in_flight = in_flight
        self.failfast = failfast
        self.polling = polling
        self.rng = rng
        self.inputs = inputs
        # The batch's slots (in flight, and in the submission window): a scenario waiting for a
        # deadline lends them to the others.
        self.slots = slots
        self.post_life = post_life(app.timeouts, submit_margin)
        # POSTs whose fate was in doubt (no answer, a 5xx, an unreadable 2xx): a server may
        # have made a run of their name that the journal does not know.
        self.in_doubt = 0
        self.counters = counters if counters is not None else BatchCounters()
        # The runs of the names an earlier process left in doubt (one listing, at a resume).
        self.earlier = InDoubtListing(
            app,
            journal,
            lambda read: read_with_retries(read, polling, rng, attempts=_LOOKUP_ATTEMPTS),
            self.post_life,
        )

    async def earlier_run(
        self, key: str, name: str, row: JournalRow | None
    ) -> tuple[str, datetime | None] | None:
        """The run an earlier process submitted for this key: the journal's ("submitted"), or
        the one found by name ("submitting": the POST may have reached the server): at once, in
        the listing of every name in doubt, else looked up again once the POST's deadline has
        passed (it may land until then)."""
        if row is None:
            return None
        if row.state == "submitted" and row.run_id:
            return row.run_id, row.submitted_at
        if row.state != "submitting":
            return None
        deadline = resume_deadline(row, self.journal, self.post_life)
        if row.post_deadline is None:
            await self.journal.update(key, post_deadline=deadline)
        asked = row.post_sent_at or row.updated_at or utc_now()
        self.in_flight.asking(key, name, asked)
        found = await self.earlier.found(name)
        if found is None:
            found = await self.lookup_after(deadline, name, asked)
        self.in_flight.answered(key)
        if found is not None:
            self.in_flight.known(key, found[0])
            await self.journal.update(
                key, state="submitted", run_id=found[0], submitted_at=found[1]
            )
        return found

    async def submit(
        self, scenario: Scenario, name: str, attempts: int
    ) -> tuple[str, datetime, int]:
        """Create the run of `scenario` under `name`: (run id, submitted at, attempts so far)."""
        # Uploading an input may be the batch's first request: it waits out an endpoint that
        # cannot be reached, like the POST (failfast.py).
        kwargs = await self.failfast.reach(lambda: self.inputs.run_arguments(scenario))

        async def once() -> str | Failure:
            nonlocal attempts
            attempts += 1
            asked = utc_now()
            # Durable before the POST: a crash from here on is reconciled by name, after a
            # deadline counted from when this process let go of the journal.
            await self.journal.update(
                scenario.key,
                state="submitting",
                attempts=attempts,
                post_sent_at=asked,
                post_deadline=None,
            )
            # Until its fate is known, an interrupt with "cancel" looks this run up by name.
            self.in_flight.asking(scenario.key, name, asked)
            try:
                return await self.failfast.reach(lambda: self.app.new_run(name=name, **kwargs))
            except (AmbiguousSubmitError, ServerError) as exc:
                self.in_doubt += 1
                # Sent by now at the latest: the server may act on it until `deadline`.
                deadline = utc_now() + self.post_life
                await self.journal.update(scenario.key, post_deadline=deadline)
                logger.info(
                    "submit of %s was ambiguous (%s): looking it up after %s", name, exc, deadline
                )
                found = await self.lookup_after(deadline, name, asked)
            except Exception as exc:
                # A definite refusal: no run exists, so the next attempt may submit again. A
                # batch-wide one (wrong key, unknown app, unreachable) is no scenario's error.
                self.in_flight.answered(scenario.key)
                if not _made_no_run(exc):  # e.g. a 2xx whose body could not be read
                    self.in_doubt += 1
                stop = (
                    exc
                    if isinstance(exc, BatchAbortedError)
                    else await self.failfast.refusal(exc, submitting=True)
                )
                reason = None if stop is not None else describe(exc)
                await self.journal.update(scenario.key, state="pending", error=reason)
                if stop is not None and stop is not exc:
                    raise stop from exc
                raise
            if found is not None:
                return found[0]
            # Not found after its deadline: no run exists, submit again at once.
            error = AsyncrunError(f"run {name!r} could not be submitted after {attempts} attempts")
            return Failure(error, retryable=True)

        run_id = await retrying(once, attempts=_SUBMIT_ATTEMPTS, pause=no_pause)
        self.in_flight.known(scenario.key, run_id)
        submitted = utc_now()
        # Not waited for: should the process die before it commits, the "submitting" row is
        # reconciled by name, which finds this run.
        self.journal.update_behind(
            scenario.key, state="submitted", run_id=run_id, submitted_at=submitted
        )
        return run_id, submitted, attempts

    async def lookup_after(
        self, deadline: datetime, name: str, since: datetime
    ) -> tuple[str, datetime] | None:
        """Wait until `deadline` without holding a slot (other scenarios go on), then look the
        name up, retrying transient errors. If the lookup keeps failing the run's fate stays
        unknown: the row stays `submitting` for a resume to reconcile."""
        wait = (deadline - utc_now()).total_seconds()
        if wait > 0:
            await self._parked(wait, deadline)
        try:
            return await self.lookup(name, since, attempts=_LOOKUP_ATTEMPTS)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise AsyncrunError(
                f"run {name!r}: its submit was unanswered and looking it up failed "
                f"{_LOOKUP_ATTEMPTS} times ({describe(exc)}); its fate is unknown, a resume "
                "with the same journal reconciles it"
            ) from exc

    async def _parked(self, seconds: float, deadline: datetime) -> None:
        """Wait `seconds` (until `deadline`) with the slots lent to the other scenarios; the
        counters show the wait."""
        for slot in self.slots:
            slot.release()
        self.counters.waiting_for(deadline)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.counters.waited_for(deadline)
            for slot in self.slots:
                await slot.acquire()

    async def lookup_twice(
        self, name: str, since: datetime | None, attempt: int
    ) -> tuple[str, datetime] | None:
        """Look the name up, and once more after a pause: a listing may lag behind a run
        created an instant ago (an interrupt's cancel, which cannot wait for deadlines)."""
        found = await self.lookup(name, since)
        if found is None:
            await asyncio.sleep(backoff_delay(self.polling, attempt, self.rng))
            found = await self.lookup(name, since)
        return found

    async def lookup(
        self, name: str, since: datetime | None, *, attempts: int = _READ_ATTEMPTS
    ) -> tuple[str, datetime] | None:
        """The run already submitted under `name` (id, created time), or None."""
        after = since - LOOKUP_MARGIN if since is not None else None
        runs = await read_with_retries(
            lambda: self.app.find_runs_by_name(name, created_after=after),
            self.polling,
            self.rng,
            attempts=attempts,
        )
        if not runs:
            return None
        oldest = runs[-1]
        if len(runs) > 1:
            logger.warning("%d runs are named %r; using %s", len(runs), name, oldest.id)
        return oldest.id, oldest.created_at or utc_now()

    async def find_to_cancel(self, name: str, asked: datetime | None) -> list[str]:
        """The run to cancel of a submission interrupted unanswered (looked up as after an
        ambiguous submit)."""
        found = await self.lookup_twice(name, asked, 1)
        return [found[0]] if found is not None else []


def _made_no_run(exc: Exception) -> bool:
    """Whether a submit's failure shows that no run was made: refused with a 4xx, or never
    sent (a POST that may have been sent fails with AmbiguousSubmitError, handled apart)."""
    if isinstance(exc, APIStatusError):
        return exc.status_code < 500
    return isinstance(
        exc, APIConnectionError | InputError | UploadError | ConfigError | BatchAbortedError
    )


async def read_with_retries(
    read: Callable[[], Awaitable[T]],
    polling: PollingOptions,
    rng: random.Random,
    *,
    attempts: int = _READ_ATTEMPTS,
) -> T:
    """A read the transport does not retry (a 500 answer) is retried here: the run is done
    and its result must not be lost to one bad answer."""

    async def pause(attempt: int, failure: Failure) -> None:
        await asyncio.sleep(backoff_delay(polling, attempt + 1, rng))

    return await retry_transient(read, attempts=attempts, pause=pause)


def describe(exc: BaseException) -> str:
    """An error as one line for the journal and the outcome: `Type: text`."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
