"""The acceptance test's models, named as in the official SDK (nextmv 1.13
`cloud/acceptance_test.py`), and the one check of a metric list.

Both the experiments client (`new_acceptance_test(metrics=...)`, answers of the acceptance API)
and the sweep verdict (`--metrics` files, `acceptance.json`) use these, so a user's list of
`asyncrun.Metric` goes to either alike. The models are lenient, as they parse the server's
answers: unknown fields are kept, an unknown operator, statistic or type stays a plain string,
and null means the default where the spec gives one (statistic mean, no tolerance).
What a user sends goes through `check_metrics`, strict by the rules of ACCEPTANCE_SPEC "A valid
metric" (the emulator refuses the same metrics with a 400).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from asyncrun.errors import ConfigError
from asyncrun.models import WireModel

__all__ = [
    "EXAMPLE_METRIC",
    "AcceptanceTestResults",
    "Comparison",
    "DistributionPercentiles",
    "DistributionSummaryStatistics",
    "Metric",
    "MetricParams",
    "MetricResult",
    "MetricStatistics",
    "MetricTolerance",
    "MetricToleranceType",
    "MetricType",
    "ResultStatistics",
    "StatisticType",
    "check_metrics",
]


class MetricType(StrEnum):
    direct_comparison = "direct-comparison"


class StatisticType(StrEnum):
    """How a metric's values over an instance's runs collapse into one number."""

    min = "min"
    max = "max"
    mean = "mean"
    std = "std"
    shifted_geometric_mean = "shifted_geometric_mean"
    p01 = "p01"
    p05 = "p05"
    p10 = "p10"
    p25 = "p25"
    p50 = "p50"
    p75 = "p75"
    p90 = "p90"
    p95 = "p95"
    p99 = "p99"


class Comparison(StrEnum):
    """The operator, read "candidate OPERATOR control" (see acceptance/verdict.py)."""

    equal_to = "eq"
    greater_than = "gt"
    greater_than_or_equal_to = "ge"
    less_than = "lt"
    less_than_or_equal_to = "le"
    not_equal_to = "ne"


class MetricToleranceType(StrEnum):
    undefined = ""
    absolute = "absolute"
    relative = "relative"


# Left to right: a known value becomes the enum member, anything else stays a plain string.
_Type = Annotated[MetricType | str, Field(union_mode="left_to_right")]
_Statistic = Annotated[StatisticType | str, Field(union_mode="left_to_right")]
_Operator = Annotated[Comparison | str, Field(union_mode="left_to_right")]
_ToleranceType = Annotated[MetricToleranceType | str, Field(union_mode="left_to_right")]


class MetricTolerance(WireModel):
    """`absolute`: `value` in the metric's unit; `relative`: a fraction of the control's
    statistic (0.05 = 5 %); `""`: no tolerance."""

    type: _ToleranceType = MetricToleranceType.undefined
    value: float = 0.0

    @field_validator("type", mode="before")
    @classmethod
    def _null_type(cls, given: Any) -> Any:
        return MetricToleranceType.undefined if given is None else given


class MetricParams(WireModel):
    operator: _Operator
    tolerance: MetricTolerance = Field(default_factory=MetricTolerance)

    @field_validator("tolerance", mode="before")
    @classmethod
    def _null_tolerance(cls, given: Any) -> Any:
        return MetricTolerance() if given is None else given


class Metric(WireModel):
    """A metric of an acceptance test: `field` (a dotted path in the run's output), the
    `statistic` taken over each instance's runs, and the operator with its tolerance."""

    field: str
    metric_type: _Type = MetricType.direct_comparison
    params: MetricParams
    statistic: _Statistic = StatisticType.mean

    @field_validator("statistic", mode="before")
    @classmethod
    def _null_statistic(cls, given: Any) -> Any:
        return StatisticType.mean if given is None else given


class DistributionSummaryStatistics(WireModel):
    min: float
    max: float
    count: int
    mean: float
    std: float
    shifted_geometric_mean: float
    shift_parameter: float


class DistributionPercentiles(WireModel):
    p01: float
    p05: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float


class ResultStatistics(WireModel):
    """The distribution of a metric over one instance's runs."""

    instance_id: str
    version_id: str | None = None
    number_of_runs_total: int
    distribution_summary_statistics: DistributionSummaryStatistics
    distribution_percentiles: DistributionPercentiles


class MetricStatistics(WireModel):
    control: ResultStatistics
    candidate: ResultStatistics


class MetricResult(WireModel):
    metric: Metric
    statistics: MetricStatistics
    passed: bool


class AcceptanceTestResults(WireModel):
    """The verdict: `passed` when every metric passed; what `asyncrun report` writes to
    acceptance.json and what the SDK's `AcceptanceTestResults.from_dict` reads."""

    passed: bool
    metric_results: list[MetricResult] | None = None
    error: str | None = None


# ---------------------------------------------------------------- the check

EXAMPLE_METRIC = (
    '{"field": "result.value", "metric_type": "direct-comparison", "params": '
    '{"operator": "le", "tolerance": {"type": "relative", "value": 0.05}}, "statistic": "mean"}'
)


def check_metrics(metrics: Any) -> list[Metric]:
    """A user's metrics (`Metric`s or their JSON objects) checked as ACCEPTANCE_SPEC "A valid
    metric" says, before anything is sent or judged: a non-empty list; each with a non-empty
    `field`, `metric_type` "direct-comparison", a known `statistic` (absent or null: mean), a
    `params` object with a known `operator`, and a tolerance that is absent or null, or has a
    known `type` (absent, null or "": none) and a finite `value` (absent: 0). Otherwise one
    ConfigError naming the metric's index and the problem. Other fields are kept."""
    if isinstance(metrics, str | bytes | Mapping) or not isinstance(metrics, Sequence):
        raise ConfigError(f"metrics must be a non-empty list of metrics like [{EXAMPLE_METRIC}]")
    if not metrics:
        raise ConfigError("metrics must be a non-empty list: an acceptance test needs one metric")
    return [_checked(index, item) for index, item in enumerate(metrics)]


def _checked(index: int, item: Any) -> Metric:
    # A Metric is checked in the JSON form it is sent in, so both kinds meet the same rules.
    raw = item.to_dict() if isinstance(item, Metric) else item
    if not isinstance(raw, Mapping):
        raise ConfigError(f"metrics[{index}] is {_shown(raw)}: expected a Metric or an object")
    try:
        return Metric.model_validate(_normalized(raw))
    except _Problem as problem:
        raise ConfigError(f"metrics[{index}]: {problem}") from None


class _Problem(Exception):
    """What is wrong with one metric (ConfigError adds which one)."""


def _normalized(raw: Mapping[str, Any]) -> dict[str, Any]:
    field = raw.get("field")
    if not isinstance(field, str) or not field:
        raise _Problem(f"field {_given(raw, 'field')}: expected the dotted path of an output value")
    if raw.get("metric_type") != MetricType.direct_comparison:
        raise _Problem(f"metric_type {_given(raw, 'metric_type')}: expected 'direct-comparison'")
    statistic = raw.get("statistic")
    statistic = StatisticType.mean.value if statistic is None else statistic
    _one_of(statistic, StatisticType, "statistic")
    params = raw.get("params")
    if not isinstance(params, Mapping):
        raise _Problem(f"params {_given(raw, 'params')}: expected an object with an operator")
    _one_of(params.get("operator"), Comparison, "params.operator")
    tolerance = _tolerance(params.get("tolerance"))
    return {
        **raw,
        "statistic": statistic,
        "params": {**params, "tolerance": tolerance},
    }


def _tolerance(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"type": MetricToleranceType.undefined.value, "value": 0.0}
    if not isinstance(raw, Mapping):
        raise _Problem(f"params.tolerance is {_shown(raw)}: expected an object with type and value")
    kind = raw.get("type")
    kind = MetricToleranceType.undefined.value if kind is None else kind
    _one_of(kind, MetricToleranceType, "params.tolerance.type")
    value = raw.get("value", 0.0)
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not finite:
        raise _Problem(f"params.tolerance.value is {_shown(value)}: expected a finite number")
    return {**raw, "type": kind, "value": float(value)}


def _one_of(value: Any, kind: type[StrEnum], where: str) -> None:
    known = [member.value for member in kind]
    if not isinstance(value, str) or value not in known:
        raise _Problem(f"{where} {_shown(value)} is unknown: one of {', '.join(map(repr, known))}")


def _given(raw: Mapping[str, Any], name: str) -> str:
    return f"{_shown(raw[name])} is wrong" if name in raw else "is missing"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
