"""The verdict of a finished sweep, from its output folder alone.

A sweep's OUT folder holds `summary.csv` (one row per scenario: key, final status, instance)
and `results/<key>.json` (each run's output). That is all the verdict reads: the folder is the
record of the batch that a CI job keeps as an artifact, while the journal may live elsewhere
(its path is the user's) and is locked while a batch runs. Result files are found from the key
(`results.result_path`), not from the CSV's path column, so a folder moved or read from another
working directory still works. One result file is read at a time and only the metrics' values
are kept: memory follows the number of runs, not the size of their outputs.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncrun._metrics import AcceptanceTestResults, Metric, check_metrics
from asyncrun.acceptance.verdict import Pair, RunValues, judge, pairs_of, value_at
from asyncrun.batch.results import result_path
from asyncrun.batch.scenario import INSTANCE_DIMENSION
from asyncrun.errors import ConfigError

__all__ = ["SUMMARY_FILE", "SweepVerdict", "judge_sweep", "pair_key", "read_runs"]

SUMMARY_FILE = "summary.csv"
RESULTS_DIR = "results"


def pair_key(key: str, instance_id: str) -> str:
    """The scenario key without its instance part: `inst-7/instance_id=v2,seed=2` on instance
    v2 -> `inst-7/seed=2`, `inst-7/instance_id=v2` -> `inst-7` (the keys `asyncrun batch` makes
    for several --instance-id); a key without one is its own pair."""
    marker = f"/{INSTANCE_DIMENSION}={instance_id}"
    at = key.rfind(marker)
    rest = key[at + len(marker) :] if at >= 0 else None
    if rest is None or (rest and not rest.startswith(",")):
        return key
    return key[:at] + ("/" + rest[1:] if rest else "")


def read_runs(out: Path, metrics: Sequence[Metric]) -> Iterator[RunValues]:
    """The runs of the sweep in `out`, with each metric's value (None for a run that did not
    succeed, or whose output has no number there)."""
    summary = out / SUMMARY_FILE
    if not summary.is_file():
        raise ConfigError(f"{str(out)!r} holds no {SUMMARY_FILE}: not the --out of a batch")
    csv.field_size_limit(sys.maxsize)  # the error and metrics columns may be long
    with summary.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source):
            key, status, instance = row["key"], row["status"], row["instance_id"]
            output = _output(out, key) if status == "succeeded" else None
            yield RunValues(
                key=key,
                pair=pair_key(key, instance),
                instance_id=instance,
                status=status,
                values=tuple(value_at(output, m.field) for m in metrics),
            )


def _output(out: Path, key: str) -> Any:
    try:
        with result_path(out / RESULTS_DIR, key).open(encoding="utf-8") as source:
            return json.load(source)
    except (OSError, ValueError):
        return None  # a missing or unreadable result gives no value, like a failed run


@dataclass(frozen=True)
class SweepVerdict:
    """The verdict of a sweep, with what the report draws: each side's values and the per-input
    pairs of every metric."""

    metrics: tuple[Metric, ...]
    control: str
    candidate: str
    runs: tuple[RunValues, ...]
    results: AcceptanceTestResults
    statuses: Mapping[str, Counter[str]] = field(default_factory=dict)

    def values(self, index: int, instance: str) -> list[float]:
        return [
            v
            for run in self.runs
            if run.instance_id == instance and (v := run.values[index]) is not None
        ]

    def pairs(self, index: int) -> list[Pair]:
        return pairs_of(self.runs, index, control=self.control, candidate=self.candidate)

    @property
    def unsuccessful(self) -> int:
        """Runs of the two instances that did not succeed (they give no value)."""
        return sum(
            n
            for instance in (self.control, self.candidate)
            for status, n in self.statuses.get(instance, Counter()).items()
            if status != "succeeded"
        )


def judge_sweep(
    out: Path,
    metrics: Sequence[Metric],
    *,
    control: str,
    candidate: str,
    versions: Mapping[str, str] | None = None,
) -> SweepVerdict:
    """Read the sweep in `out` and judge `candidate` against `control` on `metrics` (checked
    before anything is read: ConfigError, as `check_metrics`)."""
    metrics = check_metrics(metrics)
    runs = tuple(run for run in read_runs(out, metrics) if run.instance_id in (control, candidate))
    statuses: dict[str, Counter[str]] = {control: Counter(), candidate: Counter()}
    for run in runs:
        statuses[run.instance_id][run.status] += 1
    for instance, counted in statuses.items():
        if not counted:
            raise ConfigError(f"the sweep in {str(out)!r} has no run on instance {instance!r}")
    results = judge(metrics, runs, control=control, candidate=candidate, versions=versions)
    return SweepVerdict(tuple(metrics), control, candidate, runs, results, statuses)
