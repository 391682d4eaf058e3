"""Polling: PollingOptions (the SDK's names and defaults, frozen), the backoff schedule as a pure
function, and the poll loop with an injectable clock and sleep.

Two budgets are kept apart: `max_duration` is the run's deadline (how long the run may take),
`max_unreachable` is how long the API may keep failing with transient errors before polling
gives up. The second bounds every wait even with the SDK's unbounded defaults.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from asyncrun._retry import is_transient
from asyncrun._types import Clock, Sleep
from asyncrun.errors import PollingTimeoutError

__all__ = [
    "PollOutcome",
    "PollingOptions",
    "backoff_delay",
    "check_budget",
    "poll",
]

logger = logging.getLogger("asyncrun")

T = TypeVar("T")


class PollingOptions(BaseModel):
    """How to poll a run. Field names and defaults are the official SDK's.

    Frozen: derive a variant with `options.model_copy(update={"max_duration": 600})`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backoff: float = Field(default=0.9, ge=0)
    delay: float = Field(default=0.1, ge=0)
    initial_delay: float = Field(default=1.0, ge=0)
    max_delay: float = Field(default=20.0, ge=0)
    max_duration: float = -1
    max_tries: int = -1
    jitter: float = Field(default=1.0, ge=0)
    verbose: bool = False
    stop: Callable[[], bool] | None = None
    sleep_duration_func: Callable[[], float] | None = None
    max_unreachable: float = Field(default=300.0, gt=0)


def backoff_delay(options: PollingOptions, attempt: int, rng: random.Random) -> float:
    """Sleep after the `attempt`-th poll: min(max_delay, delay + backoff*2**attempt + U(0, jitter)).

    The jitter is inside the cap, so max_delay is a real ceiling; huge attempts do not overflow.
    """
    jitter = rng.uniform(0.0, options.jitter) if options.jitter > 0 else 0.0
    try:
        growth = math.ldexp(options.backoff, max(attempt, 0))
    except OverflowError:
        growth = math.inf
    return max(0.0, min(options.max_delay, options.delay + growth + jitter))


@dataclass(frozen=True)
class PollOutcome(Generic[T]):
    """What the poll loop ended with: the last value, whether it was final, and the polls made."""

    value: T | None
    done: bool
    polls: int
    stopped: bool


def _next_sleep(
    options: PollingOptions,
    polls: int,
    rng: random.Random,
    next_sleep: Callable[[], float] | None,
) -> float:
    hint = next_sleep or options.sleep_duration_func
    if hint is not None:
        hinted = float(hint())
        return hinted if math.isfinite(hinted) and hinted > 0 else 0.0
    return backoff_delay(options, polls, rng)


async def poll(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    options: PollingOptions,
    *,
    run_id: str,
    first_poll_after: float | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    next_sleep: Callable[[], float] | None = None,
) -> PollOutcome[T]:
    """Call `fetch` until `is_done(value)`, sleeping by the backoff schedule in between.

    Returns the final value, or (when `options.stop()` says so) the last value seen with
    `stopped=True`. Raises PollingTimeoutError when max_duration or max_tries run out, and the
    transport's error when the API stayed unreachable for max_unreachable seconds.
    `first_poll_after` replaces `initial_delay` (the batch layer sets it from observed durations);
    `next_sleep` replaces `options.sleep_duration_func` (a batch sets one per run, with no copy
    of the options per run).
    """
    rng = rng or random.Random()
    await sleep(options.initial_delay if first_poll_after is None else max(0.0, first_poll_after))
    start = clock()
    last_ok = start
    last: T | None = None
    polls = 0
    while True:
        if options.stop is not None and options.stop():
            return PollOutcome(last, False, polls, stopped=True)
        polls += 1
        try:
            last = await fetch()
        except Exception as exc:
            # A failure the transport already retried may still heal: polling keeps going
            # through it until max_unreachable has passed since the last good answer.
            if not is_transient(exc) or clock() - last_ok >= options.max_unreachable:
                raise
            logger.info("poll of run %s failed (%s); polling on", run_id, type(exc).__name__)
        else:
            last_ok = clock()
            if is_done(last):
                return PollOutcome(last, True, polls, stopped=False)
        check_budget(options, polls, clock() - start, run_id, last)
        pause = _next_sleep(options, polls, rng, next_sleep)
        if options.max_duration >= 0:
            # Never sleep past the deadline: one last poll lands on it.
            pause = min(pause, max(0.0, options.max_duration - (clock() - start)))
        if options.verbose:
            logger.info("polling run %s: poll %d, sleeping %.2f s", run_id, polls, pause)
        await sleep(pause)


def check_budget(
    options: PollingOptions, polls: int, elapsed: float, run_id: str, last: object
) -> None:
    if 0 <= options.max_tries <= polls:
        raise PollingTimeoutError(
            f"run {run_id} not finished after {polls} polls (max_tries={options.max_tries})",
            run_id=run_id,
            info=last,
        )
    if options.max_duration >= 0 and elapsed >= options.max_duration:
        raise PollingTimeoutError(
            f"run {run_id} not finished after {elapsed:.1f} s "
            f"(max_duration={options.max_duration})",
            run_id=run_id,
            info=last,
        )
