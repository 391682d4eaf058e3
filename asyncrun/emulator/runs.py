"""The run store and the run lifecycle on a scaled clock.

A simulated run costs no task: its status is computed from timestamps on each request
(queued until t0 + queue/scale, running until t0 + (queue + duration)/scale, then terminal),
so a hundred thousand runs cost only their records. Runs of `--app-command` are real
subprocesses (command_app.py) and record their own start and end.
"""

from __future__ import annotations

import bisect
import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
WITH_OUTPUT = frozenset({"succeeded", "failed"})
MULTI_FILE_TYPES = frozenset({"multi-file", "csv-archive"})


@dataclass(frozen=True)
class ExperimentTag:
    """What a run of an experiment carries (the SDK's `Run` and `Metadata` fields)."""

    experiment_id: str
    experiment_type: str
    input_id: str
    input_set_id: str | None
    option_set: str | None
    scenario_id: str | None
    repetition: int | None

    def fields(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "input_id": self.input_id,
            "input_set_id": self.input_set_id,
            "option_set": self.option_set,
            "scenario_id": self.scenario_id,
            "repetition": self.repetition,
        }


@dataclass(eq=False, slots=True)
class Run:
    id: str
    app_id: str
    seq: int
    name: str
    description: str
    instance_id: str
    options: dict[str, str]
    input_type: str
    output_type: str
    execution_class: str
    created_wall: float
    t0: float
    scale: float
    duration_s: float
    # The schedule of a simulated run (monotonic): when it leaves the queue and when it ends.
    start_at: float
    end_at: float
    input_size: int
    inline_input: Any = None
    input_key: str | None = None
    digest: str = ""
    files: list[dict[str, Any]] | None = None
    fail_message: str | None = None
    output_bytes: int | None = None
    evil: str | None = None
    command: bool = False
    # Set for command runs by the runner, and for every run by cancel.
    started_at: float | None = None
    ended_at: float | None = None
    command_status: str = "queued"
    canceled_at: float | None = None
    log_lines: list[str] = field(default_factory=list)
    output_key: str | None = None
    command_output_size: int = 0
    # What an app command's JSON output said (the default app's come from its document).
    metrics: Any = None
    statistics: Any = None
    version_id: str = ""
    experiment: ExperimentTag | None = None

    def timeline(self, now: float) -> tuple[str, float | None, float | None]:
        """(status_v2, monotonic start or None, monotonic end or None) as of `now`."""
        if self.command:
            if self.canceled_at is not None:
                return "canceled", self.started_at, self.canceled_at
            return self.command_status, self.started_at, self.ended_at
        start, end = self.start_at, self.end_at
        if self.canceled_at is not None:
            return "canceled", (start if self.canceled_at >= start else None), self.canceled_at
        if now < start:
            return "queued", None, None
        if now < end:
            return "running", start, None
        return ("failed" if self.fail_message is not None else "succeeded"), start, end

    def status(self, now: float) -> str:
        return self.timeline(now)[0]

    def cancel(self, now: float) -> bool:
        """Cancel the run if it has not finished; True if this call canceled it."""
        if self.status(now) in TERMINAL:
            return False
        self.canceled_at = now
        return True

    def wall(self, mono: float) -> float:
        """The wall-clock time of a monotonic instant of this run."""
        return self.created_wall + (mono - self.t0)

    def simulated_ms(self, start: float, end: float) -> float:
        """A real interval of this run as simulated milliseconds."""
        return round(max(0.0, end - start) * self.scale * 1000.0, 3)


@dataclass
class NewRun:
    """What a POST runs asked for, already validated."""

    app_id: str
    name: str
    description: str
    instance_id: str
    options: dict[str, str]
    input_type: str
    output_type: str
    execution_class: str
    input_size: int
    inline_input: Any
    input_key: str | None
    digest: str
    files: list[dict[str, Any]] | None
    fail_message: str | None
    duration_s: float | None
    queue_s: float | None
    output_bytes: int | None
    evil: str | None
    version_id: str = ""


class RunStore:
    """All runs, by id and per application in creation order."""

    def __init__(
        self,
        *,
        seed: int,
        duration: tuple[float, float],
        queue_delay: float,
        time_scale: float,
        capacity: int | None = None,
    ) -> None:
        self._rng = random.Random(f"runs-{seed}")
        self._duration = duration
        self._queue_delay = queue_delay
        self._scale = time_scale
        self._capacity = capacity
        # End times of the runs holding the `capacity` execution slots (a min-heap).
        self._slots: list[float] = []
        self._runs: dict[str, Run] = {}
        self._per_app: dict[str, list[Run]] = {}
        self._seq = 0
        self.created = 0
        self.per_name: Counter[str] = Counter()
        # One offset from the monotonic clock to the wall clock for every run: read per run,
        # the two clocks' reads drift apart by a preemption between them (milliseconds under
        # load), and one run's end would not be the wall time of the next one's start.
        self._wall_offset = time.time() - time.monotonic()

    def create(self, spec: NewRun, *, command: bool) -> Run:
        self._seq += 1
        low, high = self._duration
        duration = spec.duration_s if spec.duration_s is not None else self._rng.uniform(low, high)
        t0 = time.monotonic()
        # App-command runs record their own start and end; only simulated runs take a slot.
        queue = spec.queue_s if spec.queue_s is not None else self._queue_delay
        start, end = (t0, t0) if command else self._schedule(t0, queue, duration)
        run = Run(
            id=f"run-{self._seq:x}-{self._rng.getrandbits(40):010x}",
            app_id=spec.app_id,
            seq=self._seq,
            name=spec.name,
            description=spec.description,
            instance_id=spec.instance_id,
            options=spec.options,
            input_type=spec.input_type,
            output_type=spec.output_type,
            execution_class=spec.execution_class,
            created_wall=t0 + self._wall_offset,
            t0=t0,
            scale=1.0 if command else self._scale,
            duration_s=duration,
            start_at=start,
            end_at=end,
            input_size=spec.input_size,
            inline_input=spec.inline_input,
            input_key=spec.input_key,
            digest=spec.digest,
            files=spec.files,
            fail_message=spec.fail_message,
            output_bytes=spec.output_bytes,
            evil=spec.evil,
            command=command,
            version_id=spec.version_id,
        )
        self._runs[run.id] = run
        self._per_app.setdefault(run.app_id, []).append(run)
        self.created += 1
        if run.name:
            self.per_name[run.name] += 1
        return run

    def _schedule(self, t0: float, queue: float, duration: float) -> tuple[float, float]:
        """(start, end) of a new simulated run: after its queue delay and, with a capacity,
        once a slot is free (first come, first served). A canceled run keeps its slot until
        its scheduled end: a simplification that only makes later runs start a little late."""
        ready = t0 + queue / self._scale
        start = ready
        if self._capacity is not None and len(self._slots) >= self._capacity:
            start = max(ready, heapq.heappop(self._slots))
        end = start + duration / self._scale
        if self._capacity is not None:
            heapq.heappush(self._slots, end)
        return start, end

    def get(self, app_id: str, run_id: str) -> Run | None:
        run = self._runs.get(run_id)
        return run if run is not None and run.app_id == app_id else None

    def delete(self, run: Run) -> None:
        self._runs.pop(run.id, None)
        runs = self._per_app.get(run.app_id, [])
        index = bisect.bisect_left(runs, run.seq, key=lambda r: r.seq)
        if index < len(runs) and runs[index] is run:
            del runs[index]

    def all_runs(self) -> list[Run]:
        return list(self._runs.values())

    def newest_first(self, app_id: str, before_seq: int | None, limit: int | None) -> list[Run]:
        """Runs of one app, newest first, strictly older than `before_seq` if given."""
        runs = self._per_app.get(app_id, [])
        end = len(runs) if before_seq is None else bisect.bisect_left(runs, before_seq, key=_seq)
        start = 0 if limit is None else max(0, end - limit)
        return runs[start:end][::-1]

    def has_older(self, app_id: str, seq: int) -> bool:
        runs = self._per_app.get(app_id, [])
        return bool(runs) and runs[0].seq < seq


def _seq(run: Run) -> int:
    return run.seq
