"""The acceptance test's models, with the official SDK's names and fields
(`nextmv.cloud.acceptance_test`): what a metrics file holds (`Metric`) and what a verdict is
(`AcceptanceTestResults`). Defined here rather than imported so that the sweep verdict needs
neither the SDK nor the experiments client; `AcceptanceTestResults.model_dump(mode="json")` is
what the SDK's `AcceptanceTestResults.from_dict` reads.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
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
]


class MetricType(StrEnum):
    direct_comparison = "direct-comparison"


class StatisticType(StrEnum):
    """How the values of a metric over an instance's runs collapse into one number."""

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
    """The operator, read as "candidate OPERATOR control" (see ACCEPTANCE in verdict.py)."""

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


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


# What a metric accepts is what the platform's acceptance test accepts (ACCEPTANCE_SPEC, "A
# valid metric"): null where a default exists means the default, other fields are ignored.


class MetricTolerance(_Model):
    """`absolute`: `value` in the metric's unit; `relative`: a fraction of the control's
    statistic (0.05 = 5 %); `""`: no tolerance."""

    type: MetricToleranceType = MetricToleranceType.undefined
    value: float = 0.0

    @field_validator("type", mode="before")
    @classmethod
    def _no_type(cls, given: Any) -> Any:
        return MetricToleranceType.undefined if given is None else given

    @field_validator("value", mode="before")
    @classmethod
    def _finite(cls, given: Any) -> Any:
        if isinstance(given, bool) or not isinstance(given, int | float):
            raise ValueError(f"must be a number, got {given!r}")
        if not math.isfinite(given):
            raise ValueError("must be a finite number")
        return given


class MetricParams(_Model):
    operator: Comparison
    tolerance: MetricTolerance = Field(default_factory=MetricTolerance)

    @field_validator("tolerance", mode="before")
    @classmethod
    def _no_tolerance(cls, given: Any) -> Any:
        return MetricTolerance() if given is None else given


class Metric(_Model):
    """One metric of an acceptance test: the output `field` (a dotted path), the `statistic`
    taken over each instance's runs, and the comparison of the candidate's against the
    control's (`params`)."""

    field: str
    metric_type: MetricType
    params: MetricParams
    statistic: StatisticType = StatisticType.mean

    @field_validator("field")
    @classmethod
    def _named(cls, field: str) -> str:
        if not field:
            raise ValueError("must name an output field, e.g. result.value")
        return field

    @field_validator("statistic", mode="before")
    @classmethod
    def _no_statistic(cls, given: Any) -> Any:
        return StatisticType.mean if given is None else given


class DistributionSummaryStatistics(_Model):
    min: float
    max: float
    count: int
    mean: float
    std: float
    shifted_geometric_mean: float
    shift_parameter: float


class DistributionPercentiles(_Model):
    p01: float
    p05: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float


class ResultStatistics(_Model):
    """The distribution of a metric over one instance's runs."""

    instance_id: str
    version_id: str
    number_of_runs_total: int
    distribution_summary_statistics: DistributionSummaryStatistics
    distribution_percentiles: DistributionPercentiles


class MetricStatistics(_Model):
    control: ResultStatistics
    candidate: ResultStatistics


class MetricResult(_Model):
    metric: Metric
    statistics: MetricStatistics
    passed: bool


class AcceptanceTestResults(_Model):
    passed: bool
    metric_results: list[MetricResult] | None = None
    error: str | None = None
