"""The acceptance verdict of a sweep: a candidate instance against a control on named metrics,
computed on the client from the sweep's own outputs as the platform's acceptance test computes
it, with the SDK's models (`Metric` in, `AcceptanceTestResults` out) and a self-contained HTML
report."""

from asyncrun._metrics import (
    AcceptanceTestResults,
    Comparison,
    DistributionPercentiles,
    DistributionSummaryStatistics,
    Metric,
    MetricParams,
    MetricResult,
    MetricStatistics,
    MetricTolerance,
    MetricToleranceType,
    MetricType,
    ResultStatistics,
    StatisticType,
)
from asyncrun.acceptance.metrics import load_metrics, parse_metrics
from asyncrun.acceptance.report import render_report
from asyncrun.acceptance.sweep import SweepVerdict, judge_sweep, pair_key, read_runs
from asyncrun.acceptance.verdict import Pair, RunValues, judge, result_statistics, value_at

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
    "Pair",
    "ResultStatistics",
    "RunValues",
    "StatisticType",
    "SweepVerdict",
    "judge",
    "judge_sweep",
    "load_metrics",
    "pair_key",
    "parse_metrics",
    "read_runs",
    "render_report",
    "result_statistics",
    "value_at",
]
