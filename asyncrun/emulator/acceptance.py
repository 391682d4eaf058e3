"""The statistics of experiments and the acceptance verdict (the rules are stated in
docs/guides/emulator-experiments.md): a run's value of a metric, the distribution of an
instance's values, and a metric's comparison of candidate against control.

Pure functions over plain values; experiments.py feeds them the outputs of real runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncrun.emulator.wire import ApiError

SHIFT = 10.0
PERCENTILES = ("p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99")
SUMMARY = ("min", "max", "mean", "std", "shifted_geometric_mean")
STATISTICS = frozenset(SUMMARY + PERCENTILES)
DIRECT_COMPARISON = "direct-comparison"
TOLERANCE_TYPES = frozenset({"", "absolute", "relative"})

# Candidate `d` against control `c` with tolerance `t` (ACCEPTANCE_SPEC.md, "The comparison").
OPERATORS: dict[str, Callable[[float, float, float], bool]] = {
    "gt": lambda d, c, t: d > c - t,
    "ge": lambda d, c, t: d >= c - t,
    "lt": lambda d, c, t: d < c + t,
    "le": lambda d, c, t: d <= c + t,
    "eq": lambda d, c, t: abs(d - c) <= t,
    "ne": lambda d, c, t: abs(d - c) > t,
}


# -- a run's value ------------------------------------------------------------------------------


def number(value: Any) -> float | None:
    """A finite int or float (not bool) as float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _at_path(root: Any, path: str) -> Any:
    node = root
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def value_of(output: Any, field: str) -> float | None:
    """The number at `field` in a run output: in its `statistics`, else its `metrics`, else
    at its root (ACCEPTANCE_SPEC.md, "A run's value of a metric")."""
    if not isinstance(output, Mapping):
        return None
    for root in (output.get("statistics"), output.get("metrics"), output):
        found = number(_at_path(root, field))
        if found is not None:
            return found
    return None


def indicators(output: Any) -> list[str]:
    """Every dotted path to a number in the output's `statistics` and `metrics` objects (the
    indicators a batch experiment summarizes), in first-seen order."""
    if not isinstance(output, Mapping):
        return []
    found: dict[str, None] = {}
    for root in (output.get("statistics"), output.get("metrics")):
        for path in _numeric_paths(root, ""):
            found.setdefault(path, None)
    return list(found)


def _numeric_paths(node: Any, prefix: str) -> list[str]:
    if not isinstance(node, Mapping):
        return [prefix] if prefix and number(node) is not None else []
    paths: list[str] = []
    for key, child in node.items():
        if isinstance(key, str):
            paths += _numeric_paths(child, f"{prefix}.{key}" if prefix else key)
    return paths


# -- a distribution -----------------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of sorted values."""
    h = (len(ordered) - 1) * p / 100.0
    low = math.floor(h)
    if low + 1 >= len(ordered):
        return ordered[low]
    return ordered[low] + (h - low) * (ordered[low + 1] - ordered[low])


def distribution(values: Sequence[float]) -> dict[str, float]:
    """min, max, count, mean, std, shifted_geometric_mean and p01..p99 of the values; every
    statistic is 0 with no value."""
    n = len(values)
    if n == 0:
        return {"count": 0, **{name: 0.0 for name in SUMMARY + PERCENTILES}}
    ordered = sorted(values)
    mean = math.fsum(ordered) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / (n - 1)) if n > 1 else 0.0
    logs = math.fsum(math.log(max(1.0, x + SHIFT)) for x in ordered)
    out: dict[str, float] = {
        "min": ordered[0],
        "max": ordered[-1],
        "count": n,
        "mean": mean,
        "std": std,
        "shifted_geometric_mean": math.exp(logs / n) - SHIFT,
    }
    for name in PERCENTILES:
        out[name] = percentile(ordered, float(name[1:]))
    return out


def _moments(stats: Mapping[str, float]) -> dict[str, Any]:
    """What both of the SDK's summaries start with."""
    return {
        "min": stats["min"],
        "max": stats["max"],
        "count": int(stats["count"]),
        "mean": stats["mean"],
        "std": stats["std"],
    }


def summary_statistics(stats: Mapping[str, float]) -> dict[str, Any]:
    """The SDK's `DistributionSummaryStatistics`."""
    return {
        **_moments(stats),
        "shifted_geometric_mean": stats["shifted_geometric_mean"],
        "shift_parameter": SHIFT,
    }


def result_statistics(
    instance_id: str, version_id: str, total: int, values: Sequence[float]
) -> dict[str, Any]:
    """The SDK's `ResultStatistics` of one side of an acceptance test."""
    stats = distribution(values)
    return {
        "instance_id": instance_id,
        "version_id": version_id,
        "number_of_runs_total": total,
        "distribution_summary_statistics": summary_statistics(stats),
        "distribution_percentiles": {name: stats[name] for name in PERCENTILES},
    }


def indicator_distribution(values: Sequence[float]) -> dict[str, Any]:
    """One indicator of a batch experiment's grouped distributional summary."""
    stats = distribution(values)
    return {
        **_moments(stats),
        "shifted_geometric_mean": {"value": stats["shifted_geometric_mean"], "shift": SHIFT},
        "percentiles": {name: stats[name] for name in PERCENTILES},
    }


# -- metrics ------------------------------------------------------------------------------------


def check_metrics(raw: Any) -> list[dict[str, Any]]:
    """The metrics of a new acceptance test, validated (400 saying why), normalized:
    `statistic` defaults to mean, a missing tolerance is {"type": "", "value": 0}."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "metrics must be a non-empty list: an acceptance test needs one")
    return [_check_metric(i, metric) for i, metric in enumerate(raw)]


def _check_metric(i: int, metric: Any) -> dict[str, Any]:
    where = f"metrics[{i}]"
    if not isinstance(metric, dict):
        raise ApiError(400, f"{where} must be an object")
    field = metric.get("field")
    if not isinstance(field, str) or not field:
        raise ApiError(400, f"{where}.field is required: the dotted path of a metric")
    kind = metric.get("metric_type")
    if kind != DIRECT_COMPARISON:
        raise ApiError(400, f"{where}.metric_type must be {DIRECT_COMPARISON!r} (got {kind!r})")
    statistic = metric.get("statistic")
    statistic = "mean" if statistic is None else statistic
    if not isinstance(statistic, str) or statistic not in STATISTICS:
        raise ApiError(
            400, f"{where}.statistic {statistic!r} is unknown: one of {sorted(STATISTICS)}"
        )
    params = metric.get("params")
    if not isinstance(params, dict):
        raise ApiError(400, f"{where}.params is required: an object with an operator")
    operator = params.get("operator")
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise ApiError(
            400, f"{where}.params.operator {operator!r} is unknown: one of {sorted(OPERATORS)}"
        )
    tolerance = _check_tolerance(where, params.get("tolerance"))
    return {
        "field": field,
        "metric_type": DIRECT_COMPARISON,
        "params": {"operator": operator, "tolerance": tolerance},
        "statistic": statistic,
    }


def _check_tolerance(where: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"type": "", "value": 0.0}
    if not isinstance(raw, dict):
        raise ApiError(400, f"{where}.params.tolerance must be an object with type and value")
    kind = raw.get("type")
    kind = "" if kind is None else kind  # absent or null: no tolerance; false or 0 is refused
    if not isinstance(kind, str) or kind not in TOLERANCE_TYPES:
        raise ApiError(
            400,
            f"{where}.params.tolerance.type {kind!r} is unknown: one of {sorted(TOLERANCE_TYPES)}",
        )
    value = number(raw.get("value", 0))
    if value is None:
        raise ApiError(400, f"{where}.params.tolerance.value must be a finite number")
    return {"type": kind, "value": value}


def tolerance_amount(tolerance: Mapping[str, Any], control: float) -> float:
    """t of the comparison: 0 without a type, the value when absolute, |control| * value when
    relative (the value is a fraction)."""
    kind, value = tolerance.get("type") or "", float(tolerance.get("value") or 0.0)
    if kind == "absolute":
        return value
    if kind == "relative":
        return abs(control) * value
    return 0.0


def passes(metric: Mapping[str, Any], control: Sequence[float], candidate: Sequence[float]) -> bool:
    """Whether the metric's comparison holds; a side with no value fails it."""
    if not control or not candidate:
        return False
    statistic = metric["statistic"]
    c = distribution(control)[statistic]
    d = distribution(candidate)[statistic]
    params = metric["params"]
    t = tolerance_amount(params["tolerance"], c)
    return OPERATORS[params["operator"]](d, c, t)
