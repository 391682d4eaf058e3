"""The acceptance verdict, computed as the platform's acceptance test computes it (the shared
definition both this module and the emulator follow: a run's value of a metric, each side's
distribution statistics, the operator with its tolerance).

Operators read "candidate OPERATOR control", with the tolerance t on the control's side:
`gt` d > c - t, `ge` d >= c - t, `lt` d < c + t, `le` d <= c + t, `eq` |d - c| <= t,
`ne` |d - c| > t; an absolute tolerance is its value, a relative one |c| * value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyncrun._metrics import (
    AcceptanceTestResults,
    Comparison,
    DistributionPercentiles,
    DistributionSummaryStatistics,
    Metric,
    MetricResult,
    MetricStatistics,
    MetricToleranceType,
    ResultStatistics,
    StatisticType,
    check_metrics,
)

__all__ = [
    "PERCENTILES",
    "SHIFT_PARAMETER",
    "Pair",
    "RunValues",
    "holds",
    "judge",
    "pairs_of",
    "percentile",
    "result_statistics",
    "statistic_value",
    "tolerance_of",
    "value_at",
]

SHIFT_PARAMETER = 10.0
"""The shift s of the shifted geometric mean, exp(mean(ln(max(1, x + s)))) - s."""
PERCENTILES = ("p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99")

_MISSING = object()


def value_at(output: Any, field: str) -> float | None:
    """A run's value of `field` (a dotted path): the number there in the output's
    `statistics`, else in its `metrics`, else at its root (a finite int or float, not a bool);
    None when none of them has one."""
    path = field.split(".")
    for root in (_member(output, "statistics"), _member(output, "metrics"), output):
        found = _walk(root, path)
        if _is_number(found):
            return float(found)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _member(document: Any, name: str) -> Any:
    return document.get(name, _MISSING) if isinstance(document, Mapping) else _MISSING


def _walk(document: Any, path: Sequence[str]) -> Any:
    for part in path:
        document = _member(document, part)
        if document is _MISSING:
            return _MISSING
    return document


def percentile(ordered: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) over sorted values."""
    if not ordered:
        return 0.0
    h = (len(ordered) - 1) * p / 100
    low = math.floor(h)
    if low + 1 >= len(ordered):
        return ordered[low]
    return ordered[low] + (h - low) * (ordered[low + 1] - ordered[low])


def result_statistics(
    values: Sequence[float], *, instance_id: str, version_id: str, runs_total: int
) -> ResultStatistics:
    """The distribution of one instance's values (every statistic 0 when there is none)."""
    ordered = sorted(values)
    n = len(ordered)
    mean = math.fsum(ordered) / n if n else 0.0
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / (n - 1)) if n > 1 else 0.0
    shifted = 0.0
    if n:
        logs = math.fsum(math.log(max(1.0, x + SHIFT_PARAMETER)) for x in ordered)
        shifted = math.exp(logs / n) - SHIFT_PARAMETER
    return ResultStatistics(
        instance_id=instance_id,
        version_id=version_id,
        number_of_runs_total=runs_total,
        distribution_summary_statistics=DistributionSummaryStatistics(
            min=ordered[0] if n else 0.0,
            max=ordered[-1] if n else 0.0,
            count=n,
            mean=mean,
            std=std,
            shifted_geometric_mean=shifted,
            shift_parameter=SHIFT_PARAMETER,
        ),
        distribution_percentiles=DistributionPercentiles(
            **{name: percentile(ordered, float(name[1:])) for name in PERCENTILES}
        ),
    )


def statistic_value(stats: ResultStatistics, statistic: StatisticType | str) -> float:
    """One side's value of a statistic (a checked metric's: a StatisticType value)."""
    name = StatisticType(statistic).value
    if name in PERCENTILES:
        return float(getattr(stats.distribution_percentiles, name))
    return float(getattr(stats.distribution_summary_statistics, name))


def tolerance_of(metric: Metric, control: float) -> float:
    tolerance = metric.params.tolerance
    if tolerance.type == MetricToleranceType.absolute:
        return tolerance.value
    if tolerance.type == MetricToleranceType.relative:
        return abs(control) * tolerance.value
    return 0.0


_OPERATORS: Mapping[str, Callable[[float, float, float], bool]] = {
    Comparison.greater_than: lambda d, c, t: d > c - t,
    Comparison.greater_than_or_equal_to: lambda d, c, t: d >= c - t,
    Comparison.less_than: lambda d, c, t: d < c + t,
    Comparison.less_than_or_equal_to: lambda d, c, t: d <= c + t,
    Comparison.equal_to: lambda d, c, t: abs(d - c) <= t,
    Comparison.not_equal_to: lambda d, c, t: abs(d - c) > t,
}


def holds(metric: Metric, *, control: float, candidate: float) -> bool:
    """Whether "candidate OPERATOR control" holds with the metric's tolerance."""
    compare = _OPERATORS[metric.params.operator]
    return compare(candidate, control, tolerance_of(metric, control))


@dataclass(frozen=True, slots=True)
class RunValues:
    """One run of a sweep as the verdict sees it: its scenario `key`, the `pair` it shares with
    the same input's run on the other instance (the key without its instance part), its
    instance, its status and its value of each metric (None: no value)."""

    key: str
    pair: str
    instance_id: str
    status: str
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Pair:
    """One input's values of a metric on both sides (None: that side has no value)."""

    pair: str
    control: float | None
    candidate: float | None

    @property
    def difference(self) -> float | None:
        """candidate - control, when both have a value."""
        if self.control is None or self.candidate is None:
            return None
        return self.candidate - self.control


def judge(
    metrics: Sequence[Metric],
    runs: Sequence[RunValues],
    *,
    control: str,
    candidate: str,
    versions: Mapping[str, str] | None = None,
) -> AcceptanceTestResults:
    """The verdict of `candidate` against `control` on `metrics`, over the runs of the two
    instances (`runs[i].values[m]` is run i's value of metrics[m]); `versions` names the
    version each instance ran. A metric with no value on a side fails. The metrics are checked
    first (ConfigError, as `check_metrics`)."""
    metrics = check_metrics(metrics)
    versions = versions or {}
    results = []
    for index, metric in enumerate(metrics):
        sides = [
            _side(runs, index, instance, versions.get(instance, ""))
            for instance in (control, candidate)
        ]
        c = statistic_value(sides[0], metric.statistic)
        d = statistic_value(sides[1], metric.statistic)
        counted = all(s.distribution_summary_statistics.count > 0 for s in sides)
        results.append(
            MetricResult(
                metric=metric,
                statistics=MetricStatistics(control=sides[0], candidate=sides[1]),
                passed=counted and holds(metric, control=c, candidate=d),
            )
        )
    return AcceptanceTestResults(
        passed=all(r.passed for r in results), metric_results=results, error=None
    )


def _side(runs: Sequence[RunValues], index: int, instance: str, version: str) -> ResultStatistics:
    mine = [run for run in runs if run.instance_id == instance]
    values = [v for run in mine if (v := run.values[index]) is not None]
    return result_statistics(values, instance_id=instance, version_id=version, runs_total=len(mine))


def pairs_of(runs: Sequence[RunValues], index: int, *, control: str, candidate: str) -> list[Pair]:
    """The inputs of the sweep with metric `index`'s value on each side, in key order."""
    sides: dict[str, dict[str, float | None]] = {}
    for run in runs:
        if run.instance_id in (control, candidate):
            sides.setdefault(run.pair, {})[run.instance_id] = run.values[index]
    return [
        Pair(pair, values.get(control), values.get(candidate))
        for pair, values in sorted(sides.items())
    ]
