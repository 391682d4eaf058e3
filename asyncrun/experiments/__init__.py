"""Experiments: input sets, batch experiments, acceptance tests and scenario tests, with the
official SDK's names, arguments and models (nextmv 1.13 `nextmv.cloud`), awaited.

AsyncApplication mixes in one class per concern (input_sets.py, batch_experiments.py,
acceptance.py, scenario_tests.py); the models are in models.py. `Scenario` here is the SDK's
scenario of a scenario test, not `asyncrun.Scenario` (one run of a client-side batch).
"""

from asyncrun.experiments._core import DEFAULT_EXPERIMENT_POLLING
from asyncrun.experiments.acceptance import AcceptanceTestsMixin
from asyncrun.experiments.batch_experiments import BatchExperimentsMixin, to_runs
from asyncrun.experiments.input_sets import InputSetsMixin
from asyncrun.experiments.models import (
    TERMINAL_EXPERIMENT_STATUSES,
    AcceptanceTest,
    AcceptanceTestResults,
    BatchExperiment,
    BatchExperimentInformation,
    BatchExperimentMetadata,
    BatchExperimentRun,
    Comparison,
    ComparisonInstance,
    DistributionPercentiles,
    DistributionSummaryStatistics,
    ExperimentRun,
    ExperimentStatus,
    InputSet,
    ManagedInput,
    Metric,
    MetricParams,
    MetricResult,
    MetricStatistics,
    MetricTolerance,
    MetricToleranceType,
    MetricType,
    ResultStatistics,
    Scenario,
    ScenarioConfiguration,
    ScenarioInput,
    ScenarioInputType,
    StatisticType,
)
from asyncrun.experiments.scenario_tests import ScenarioTestsMixin


class ExperimentsMixin(
    InputSetsMixin, BatchExperimentsMixin, AcceptanceTestsMixin, ScenarioTestsMixin
):
    """Every experiment call; AsyncApplication mixes this in."""


__all__ = [
    "DEFAULT_EXPERIMENT_POLLING",
    "TERMINAL_EXPERIMENT_STATUSES",
    "AcceptanceTest",
    "AcceptanceTestResults",
    "BatchExperiment",
    "BatchExperimentInformation",
    "BatchExperimentMetadata",
    "BatchExperimentRun",
    "Comparison",
    "ComparisonInstance",
    "DistributionPercentiles",
    "DistributionSummaryStatistics",
    "ExperimentRun",
    "ExperimentStatus",
    "ExperimentsMixin",
    "InputSet",
    "ManagedInput",
    "Metric",
    "MetricParams",
    "MetricResult",
    "MetricStatistics",
    "MetricTolerance",
    "MetricToleranceType",
    "MetricType",
    "ResultStatistics",
    "Scenario",
    "ScenarioConfiguration",
    "ScenarioInput",
    "ScenarioInputType",
    "StatisticType",
    "to_runs",
]
