"""The poll schedule of a batch: when each run in flight is polled until it is final.

The pause between two polls of a run is the estimator's advice (`estimator.py`, from the
durations of the runs finished so far), shortened by spare capacity and lengthened by queueing
(`pacing.py`, from the latency of the batch's own polls, measured from when each poll was due
to its answer, less any time it waited for company); without data yet, or with adaptive
polling off, the backoff of the polling options alone.

How a poll is answered is `status_reads.py`'s business: a page of the run list shared with the
other runs due at about the same time, or the run's own read. A run polls with a patience of
half its pause (it may wait that long for company), and once the batch has seen that outputs
are small JSON and the run is likely over (older than most runs seen finishing, and most runs
submitted as long ago have finished: `estimator.Cohort`), its poll is its result read at once
(one request that is both its last status read and its result).

When results are wanted and the client does not bound the result bucket (the unlimited preset),
every read a run makes for itself is its result read: it costs what a metadata read costs, and
when the run is final it is also its result, so a run costs its POST, its polls and its share of
list pages. Such a read takes in at most MAX_INLINE bytes: a larger answer (a large first
output) is left unread and the result fetched as run_result does, and once an output was seen
large or not JSON the batch's reads go back to metadata. A bounded result bucket is kept for the
result reads that must come from it. A final status seen on a
page is confirmed by the run's own read (the result read where it may be, else metadata); a page
contradicted by that read is not trusted for the run again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.estimator import Cohort, PollEstimator
from asyncrun.batch.pacing import PollPacer
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.status_reads import News, StatusReads
from asyncrun.batch.submission import read_with_retries
from asyncrun.config import Limits
from asyncrun.errors import PollingTimeoutError
from asyncrun.models import ContentFormat, Metadata, RunInformation
from asyncrun.polling import PollingOptions, backoff_delay, poll

__all__ = ["BATCH_POLLING", "MAX_INLINE", "PollSchedule"]

BATCH_POLLING = PollingOptions(
    initial_delay=1.0, delay=0.1, backoff=0.3, max_delay=10.0, jitter=0.2
)
"""Default polling of batch runs: until the estimator has data, a first poll after 1 s and a
gentle backoff (sleeps of about 0.8, 1.4, 2.6, 5, 10 s)."""

# Share of its pause a run may wait for others to share a page with: a whole pause (a run's lag
# costs the makespan nothing while later runs end later), half of one for the batch's last few
# runs (the makespan waits for them).
PATIENCE = 1.0
TAIL_PATIENCE = 0.5
# The batch's last few runs: once every scenario was pulled, at most this many in flight, or
# this share of the most that were.
TAIL_RUNS = 50
TAIL_SHARE = 0.05
DIRECT_MAX_BYTES = 2**20  # outputs up to this size make the last poll the result read
# A run's own result read takes in at most this much: a larger answer (an output larger than
# the outputs seen so far, or the first outputs of a batch) is left unread and its result
# fetched as run_result does (metadata, then the output through a presigned URL when large).
MAX_INLINE = DIRECT_MAX_BYTES + 2**16
_LIKELY_OVER = 0.9  # a run older than this quantile of the observed durations is likely over


@dataclass(eq=False, slots=True)
class _Poll:
    """One run's polling state (kept small: many thousands are in flight). Its methods are
    what `poll` calls for the run: bound methods, not closures (less memory per run)."""

    schedule: PollSchedule
    run_id: str
    started: float
    seq: int  # its place in the batch's cohort
    polls: int = 0
    due: float | None = None  # when the poll answered now was due to be sent
    pause: float = 0.0  # the pause before it
    waited: float = 0.0  # how long it then waited for company
    direct_tried: bool = False  # a poll of its own past the likely end was made already

    def read(self) -> Awaitable[News]:
        return self.schedule.read_for(self)

    def sleep(self, seconds: float) -> Awaitable[None]:
        return self.schedule.reads.sleep(self.run_id, seconds)

    def next_sleep(self) -> float:
        return self.schedule.next_sleep_for(self)


def _is_final(news: News) -> bool:
    return news.final


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
        reads: StatusReads,
        results: bool = True,
    ) -> None:
        self.polling = polling
        self.estimator = PollEstimator() if adaptive else None
        self.pacer = PollPacer(limits)
        self.counters = counters
        self.rng = rng
        self.reads = reads
        self.draining = False
        # None until a succeeded run's output was seen; then whether every one so far was JSON
        # of at most DIRECT_MAX_BYTES (the result read may then serve as the last poll).
        self.small_outputs: bool | None = None
        # A run's own read may be its result read (when final, one request is both): results
        # are wanted and the result bucket is not bounded client-side (a bounded one is kept
        # for the reads that must come from it).
        self.results_wanted = results
        self._result_bucket_free = limits.rate.result is None
        self.cohort = Cohort()

    async def wait_final(
        self, app: BatchApplication, run_id: str, *, started: float, resumed: bool
    ) -> tuple[RunInformation, int]:
        """Poll the run until it is final: its metadata (a RunResult when the last poll was
        the result read) and the number of polls made. `started` is when the run was
        submitted (monotonic clock); a resumed run is polled at once."""
        self.reads.track(run_id, older=resumed)
        state = _Poll(self, run_id, started, self.cohort.add(started))
        first = 0.0 if resumed else self._first_poll_after()
        try:
            while True:
                state.pause = first if first is not None else self.polling.initial_delay
                outcome = await poll(
                    state.read,
                    _is_final,
                    self.polling,
                    run_id=run_id,
                    first_poll_after=first,
                    sleep=state.sleep,
                    rng=self.rng,
                    next_sleep=state.next_sleep,
                )
                state.polls += 1
                news = outcome.value
                if news is None:
                    raise PollingTimeoutError(
                        f"polling of run {run_id} was stopped by stop() before the first poll",
                        run_id=run_id,
                    )
                if news.info is not None:
                    return news.info, state.polls
                info = await self._confirm(app, run_id, state.started)
                if info.metadata.run_is_finalized() or not outcome.done:
                    return info, state.polls
                # The page said final and the run's own read says not: trust its reads only.
                self.reads.unlist(run_id)
                first = self.next_pause(time.monotonic() - state.started, state.polls)
        finally:
            self.reads.forget(run_id)
            self.cohort.finished(state.seq)

    async def read_for(self, state: _Poll) -> News:
        """The poll of one run (`_Poll.read`)."""
        now = time.monotonic()
        age = now - state.started
        # One poll of its own once the run is likely over, not one per pause after that (a
        # straggler's later polls share list pages again).
        direct = not state.direct_tried and self._direct(age, now)
        state.direct_tried = state.direct_tried or direct
        news = await self.reads.read(
            state.run_id,
            direct=direct,
            patience=(TAIL_PATIENCE if self._tail() else PATIENCE) * state.pause,
            result_read=direct or self._result_read(),
        )
        state.waited = news.waited
        return news

    async def _confirm(self, app: BatchApplication, run_id: str, started: float) -> RunInformation:
        """The run's own read after a page showed it final (or polling was stopped)."""
        if self.small_outputs or self._result_read():
            return await read_with_retries(
                lambda: app.run_result_direct(run_id, max_inline=MAX_INLINE),
                self.polling,
                self.rng,
            )
        return await read_with_retries(lambda: app.run_metadata(run_id), self.polling, self.rng)

    def _direct(self, age: float, now: float) -> bool:
        """Whether the run's poll should be its result read: outputs are known small and the
        run is likely over: older than most runs seen finishing, and most runs submitted as
        long ago have finished (early in a batch only the short runs have, and a read of a
        run still running costs a request where a shared page costs a fiftieth)."""
        if not self.small_outputs or self.estimator is None or not self.estimator.ready():
            return False
        if age < self.estimator.quantile(_LIKELY_OVER):
            return False
        share = self.cohort.finished_share(now - age)
        return share is not None and share >= _LIKELY_OVER

    def _tail(self) -> bool:
        """Whether the runs in flight are the batch's last few."""
        counters = self.counters
        return self.draining and counters.running <= max(TAIL_RUNS, TAIL_SHARE * counters.max_ahead)

    def _result_read(self) -> bool:
        """Whether a run's own read should be its result read whatever its age: it costs what
        a metadata read costs, and when the run is final it is also its result. Not once an
        output was seen large or not JSON (its result comes another way)."""
        return self.results_wanted and self._result_bucket_free and self.small_outputs is not False

    def saw_output(self, meta: Metadata) -> None:
        """A succeeded run's output was read: whether outputs so far stay small JSON."""
        small = meta.output_type == ContentFormat.json and meta.output_size <= DIRECT_MAX_BYTES
        self.small_outputs = small if self.small_outputs is None else self.small_outputs and small

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

    def next_sleep_for(self, state: _Poll) -> float:
        """The pause after a poll of one run that found it not final (`_Poll.next_sleep`)."""
        state.polls += 1
        now = time.monotonic()
        if state.due is not None:
            # Waiting for company was chosen, not suffered: it is no sign of load.
            self.pacer.record_latency(max(0.0, now - state.due - state.waited))
        pause = self.next_pause(now - state.started, state.polls)
        state.due, state.pause = now + pause, pause
        return pause

    def next_pause(self, age: float, polls: int) -> float:
        """The pause after the `polls`-th poll of a run `age` seconds old."""
        pause = backoff_delay(self.polling, polls, self.rng)
        if self.estimator is None:
            return pause
        advised = self.estimator.poll_interval(age)
        if advised is None:
            return pause
        if self.draining:  # spare capacity goes to the last runs, not to a steady state
            advised = self.pacer.pace(advised, age, self.counters.running, tail=self._tail())
        if self.estimator.within_range(age):
            pause = min(self.polling.max_delay, advised)
        else:
            pause = min(pause, advised)
        return max(pause, self.pacer.floor())
