"""RunOutcome: how one scenario of a batch ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncrun.models import RunResult

__all__ = [
    "ERROR",
    "TERMINAL_STATUSES",
    "DuplicateRun",
    "RunOutcome",
    "metrics_value",
    "result_value",
]

ERROR = "error"
"""Status of a scenario that never got a final run status (bad input, submit or poll failed)."""
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", ERROR})


@dataclass(frozen=True, slots=True)
class DuplicateRun:
    """An extra run of a scenario's name found by the sweep: `run_id` is the extra one,
    `kept_run_id` the scenario's own (the journal's); `status` is the extra run's status when
    found, and `canceled` says whether the sweep canceled it (it was still queued or running)."""

    key: str
    run_name: str
    kept_run_id: str | None
    run_id: str
    status: str
    canceled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """One finished scenario.

    `status` is the run's final status (succeeded, failed, canceled) or "error" when the
    scenario never reached one (its input could not be read, the submit or polling failed);
    `error` then says why. `result` is the RunResult of a run that ended (None for "error" and
    for an outcome read back from a journal). Timestamps: `submitted_at` (when the POST was
    answered), `finished_at` (the server's end of the run, from its metadata), `detected_at`
    (when this client saw it end). `polls` and `attempts` (submits) count requests;
    `resumed` is true when the run was submitted by an earlier process of the same journal.
    `instance_id` is the scenario's instance (None: the app's default); `metrics` and
    `statistics` are what the run's metadata carried (no result read needed for them).
    `fetch_result()` reads the result of a run whose result the outcome does not hold (a run
    finished in an earlier session, or a batch run with `fetch_results=False`).
    `duplicates`: extra runs of this scenario's name found by the end-of-batch sweep (filled in
    by run_batch_all and for outcomes read back from a journal; a streaming consumer of
    run_batch finds them in `BatchCounters.duplicate_runs` once the stream ends).
    `write_error`: the result file (`output_dir`) could not be written, `"<path>: <why>"`; the
    status is then "error" (`error` says what the run did), and the journal keeps the run's
    id with its row not final, so a resume with the same journal writes the file.
    """

    key: str
    run_name: str
    run_id: str | None
    status: str
    result: RunResult | None = None
    error: str | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    detected_at: datetime | None = None
    run_duration: float | None = None
    polls: int = 0
    attempts: int = 0
    resumed: bool = False
    result_location: str | None = None
    instance_id: str | None = None
    metrics: Mapping[str, Any] | None = None
    statistics: Mapping[str, Any] | None = None
    fetcher: Callable[[], Awaitable[RunResult]] | None = field(
        default=None, repr=False, compare=False
    )
    duplicates: tuple[DuplicateRun, ...] = ()
    write_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def output(self) -> Any:
        """The run's output (None when there is no result)."""
        return self.result.output if self.result is not None else None

    @property
    def value(self) -> float | None:
        """The objective value: from the run's metrics when they have one (see
        `metrics_value`), else from the output (see `result_value`)."""
        found = metrics_value(self.metrics, self.statistics)
        return found if found is not None else result_value(self.output)

    async def fetch_result(self) -> RunResult:
        """The run's result: the one held, else read now (while the batch's client is open)."""
        if self.result is not None:
            return self.result
        if self.fetcher is None:
            raise ValueError(f"scenario {self.key!r} has no run whose result could be read")
        return await self.fetcher()

    @property
    def detection_lag(self) -> float | None:
        """Seconds between the server's end of the run and this client seeing it."""
        if self.finished_at is None or self.detected_at is None:
            return None
        return (self.detected_at - self.finished_at).total_seconds()


def metrics_value(
    metrics: Mapping[str, Any] | None, statistics: Mapping[str, Any] | None = None
) -> float | None:
    """The value in a run's metadata: `metrics["value"]`, `metrics["result"]["value"]` or
    `metrics["result.value"]`, else the deprecated `statistics["result"]["value"]`."""
    candidates: list[Any] = []
    if isinstance(metrics, Mapping):
        result = metrics.get("result")
        nested = result.get("value") if isinstance(result, Mapping) else None
        candidates += [metrics.get("value"), nested, metrics.get("result.value")]
    if isinstance(statistics, Mapping) and isinstance(statistics.get("result"), Mapping):
        candidates.append(statistics["result"].get("value"))
    return _first_number(candidates)


def _first_number(candidates: list[Any]) -> float | None:
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def result_value(output: Any) -> float | None:
    """`output["value"]`, else `output["statistics"]["result"]["value"]` (Nextmv's statistics
    convention), when it is a number."""
    if not isinstance(output, dict):
        return None
    candidates = [output.get("value")]
    stats = output.get("statistics")
    if isinstance(stats, dict) and isinstance(stats.get("result"), dict):
        candidates.append(stats["result"].get("value"))
    return _first_number(candidates)
