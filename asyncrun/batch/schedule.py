"""The poll schedule of a batch: when each run in flight is polled until it is final.

The pause between two polls of a run is the estimator's advice (`estimator.py`, from the
durations of the runs finished so far), shortened by spare capacity and lengthened by queueing
(`pacing.py`, from the latency of the batch's own polls, measured from when each poll was due
to its answer); without data yet, or with adaptive polling off, the backoff of the polling
options alone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.estimator import PollEstimator
from asyncrun.batch.pacing import PollPacer
from asyncrun.batch.protocol import BatchApplication
from asyncrun.config import Limits
from asyncrun.models import RunInformation
from asyncrun.polling import PollingOptions, backoff_delay

__all__ = ["BATCH_POLLING", "PollSchedule"]

BATCH_POLLING = PollingOptions(
    initial_delay=1.0, delay=0.1, backoff=0.3, max_delay=10.0, jitter=0.2
)
"""Default polling of batch runs: until the estimator has data, a first poll after 1 s and a
gentle backoff (sleeps of about 0.8, 1.4, 2.6, 5, 10 s)."""


class PollSchedule:
    """Polls the runs of one batch. `draining` is set once every scenario has been pulled: from
    then on spare polling capacity goes to the last runs."""

    def __init__(
        self,
        polling: PollingOptions,
        *,
        adaptive: bool,
        limits: Limits,
        counters: BatchCounters,
        rng: random.Random,
    ) -> None:
        self.polling = polling
        self.estimator = PollEstimator() if adaptive else None
        self.pacer = PollPacer(limits)
        self.counters = counters
        self.rng = rng
        self.draining = False

    async def wait_final(
        self, app: BatchApplication, run_id: str, *, started: float, resumed: bool
    ) -> tuple[RunInformation, int]:
        """Poll the run until it is final: its metadata and the number of polls made. `started`
        is when the run was submitted (monotonic clock); a resumed run is polled at once."""
        polls = [0]
        options = self.polling.model_copy(
            update={"sleep_duration_func": self._sleeper(started, polls)}
        )
        first = 0.0 if resumed else self._first_poll_after()
        info = await app.run_metadata_with_polling(run_id, options, first_poll_after=first)
        return info, polls[0] + 1

    def observe(self, server_seconds: float | None, seen_seconds: float) -> None:
        """A run finished: `server_seconds` its duration on the server, `seen_seconds` from
        its submission to our seeing it final."""
        # The server's duration is exact but on the server's clock (scaled in the emulator);
        # ours includes detection lag. The smaller one is the better estimate.
        if self.estimator is None:
            return
        seconds = seen_seconds if server_seconds is None else min(server_seconds, seen_seconds)
        self.estimator.observe(seconds)

    def _first_poll_after(self) -> float | None:
        return self.estimator.first_poll_after() if self.estimator is not None else None

    def _sleeper(self, started: float, polls: list[int]) -> Callable[[], float]:
        due: float | None = None  # when the poll answered now was due to be sent

        def next_sleep() -> float:
            nonlocal due
            polls[0] += 1
            now = time.monotonic()
            if due is not None:
                self.pacer.record_latency(now - due)
            pause = self.next_pause(now - started, polls[0])
            due = now + pause
            return pause

        return next_sleep

    def next_pause(self, age: float, polls: int) -> float:
        """The pause after the `polls`-th poll of a run `age` seconds old."""
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
