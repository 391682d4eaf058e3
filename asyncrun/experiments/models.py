"""Wire models of experiments, named as in the official SDK (nextmv 1.13: `cloud/input_set.py`,
`cloud/batch_experiment.py`, `cloud/acceptance_test.py`, `cloud/scenario.py`).

Two kinds of model live here. Answers (InputSet, BatchExperiment, AcceptanceTest, ...) are
lenient like asyncrun's run models: unknown fields are kept, an unknown status, operator or
statistic stays a plain string, and fields a server may leave out are optional. What a user
builds to send (BatchExperimentRun, Scenario, ScenarioInput, ScenarioConfiguration) refuses a
wrong shape when it is made, with a ConfigError, as the SDK refuses it with a ValueError.

The acceptance test's metric and result models (Metric ... AcceptanceTestResults) live in
asyncrun/_metrics.py, shared with the sweep verdict (asyncrun/acceptance/), and are re-exported
here; `new_acceptance_test` checks its metrics there (`check_metrics`) before anything is sent.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

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
from asyncrun.errors import ConfigError
from asyncrun.models import ManagedInput, Run, WireModel

__all__ = [
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
]


# ---------------------------------------------------------------- status


class ExperimentStatus(StrEnum):
    """The status of a batch experiment, scenario test or acceptance test (the SDK's members)."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    DRAFT = "draft"
    CANCELED = "canceled"
    STOPPING = "stopping"
    DELETING = "deleting"
    DELETE_FAILED = "delete-failed"
    UNKNOWN = "unknown"


TERMINAL_EXPERIMENT_STATUSES = frozenset(
    {
        ExperimentStatus.COMPLETED,
        ExperimentStatus.FAILED,
        ExperimentStatus.DRAFT,
        ExperimentStatus.CANCELED,
        ExperimentStatus.DELETE_FAILED,
    }
)
"""Where the SDK's `*_with_polling` calls stop polling."""

# Left to right: a known value becomes the enum member, anything else stays a plain string.
Status = Annotated[ExperimentStatus | str, Field(union_mode="left_to_right")]


# ---------------------------------------------------------------- input sets


class InputSet(WireModel):
    """Inputs kept for experiments: `input_ids` (from runs) and/or `inputs` (managed inputs)."""

    id: str
    app_id: str | None = None
    name: str | None = None
    description: str | None = None
    input_ids: list[str] = Field(default_factory=list)
    inputs: list[ManagedInput] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def all_input_ids(self) -> list[str]:
        """`input_ids`, or the ids of `inputs` when there are none (as the SDK's `to_runs`)."""
        return list(self.input_ids) if self.input_ids else [i.id for i in self.inputs]


# ---------------------------------------------------------------- batch experiments


class BatchExperimentInformation(WireModel):
    """What every batch experiment answer has (the PATCH answer is this)."""

    id: str
    name: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status: Status | None = None
    number_of_requested_runs: int | None = None
    number_of_runs: int | None = None
    number_of_completed_runs: int | None = None
    type: str | None = None
    option_sets: dict[str, dict[str, str]] | None = None


class ExperimentRun(Run):
    """A run of an experiment: the SDK's `Run` with the experiment's fields typed."""

    experiment_id: str | None = None
    input_id: str | None = None
    input_set_id: str | None = None
    option_set: str | None = None
    options: dict[str, str] | None = None
    scenario_id: str | None = None
    repetition: int | None = None
    statistics: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


class BatchExperiment(BatchExperimentInformation):
    """A batch experiment (or scenario test); `batch_experiment()` fills `runs` in."""

    input_set_id: str | None = None
    instance_ids: list[str] = Field(default_factory=list)
    grouped_distributional_summaries: list[dict[str, Any]] | None = None
    runs: list[ExperimentRun] | None = None


class BatchExperimentMetadata(BatchExperimentInformation):
    """An item of `list_batch_experiments`, and what `batch_experiment_metadata` answers."""

    app_id: str | None = None


class BatchExperimentRun(WireModel):
    """A run to make in a batch experiment: an input on an instance or a version."""

    input_id: str
    option_set: str | None = None
    instance_id: str | None = None
    version_id: str | None = None
    input_set_id: str | None = None
    scenario_id: str | None = None
    repetition: int | None = None
    run_number: str | None = None

    @model_validator(mode="after")
    def _instance_or_version(self) -> BatchExperimentRun:
        if not self.instance_id and not self.version_id:
            raise ConfigError(
                f"batch experiment run of input {self.input_id!r}: either instance_id or "
                "version_id must be set"
            )
        return self


# ---------------------------------------------------------------- acceptance tests


class ComparisonInstance(WireModel):
    instance_id: str
    version_id: str | None = None


class AcceptanceTest(WireModel):
    """An acceptance test: the candidate instance against the control on `metrics`; `results`
    once its batch experiment has finished."""

    id: str
    name: str | None = None
    description: str | None = None
    app_id: str | None = None
    experiment_id: str | None = None
    control: ComparisonInstance | None = None
    candidate: ComparisonInstance | None = None
    metrics: list[Metric] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status: Status | None = ExperimentStatus.UNKNOWN
    results: AcceptanceTestResults | None = None


# ---------------------------------------------------------------- scenario tests


class ScenarioConfiguration(WireModel):
    """An option and the values a scenario tries for it."""

    name: str
    values: list[str]

    @model_validator(mode="after")
    def _some_values(self) -> ScenarioConfiguration:
        if not self.values:
            raise ConfigError(f"scenario configuration {self.name!r}: values must be non-empty")
        return self


class ScenarioInputType(StrEnum):
    INPUT_SET = "input_set"
    INPUT = "input"
    NEW = "new"


class ScenarioInput(WireModel):
    """Where a scenario's inputs come from: an input set id (`input_set`), managed input ids
    (`input`), or the inputs themselves (`new`, uploaded as managed inputs)."""

    scenario_input_type: ScenarioInputType
    scenario_input_data: str | list[str] | list[dict[str, Any]]

    @model_validator(mode="after")
    def _data_fits_type(self) -> ScenarioInput:
        kind, data = self.scenario_input_type, self.scenario_input_data
        if kind == ScenarioInputType.INPUT_SET and not isinstance(data, str):
            raise ConfigError("scenario_input_data must be the input set id (a string)")
        if kind != ScenarioInputType.INPUT_SET and not isinstance(data, list):
            raise ConfigError(f"scenario_input_data must be a list for type {kind.value!r}")
        if kind != ScenarioInputType.INPUT_SET and not data:
            raise ConfigError(f"scenario_input_data of type {kind.value!r} is empty")
        return self


class Scenario(WireModel):
    """A scenario of a scenario test: an instance, its inputs, and option values to combine.

    Not `asyncrun.Scenario` (one run of a client-side batch): import it from
    `asyncrun.experiments`.
    """

    scenario_input: ScenarioInput
    instance_id: str
    scenario_id: str | None = None
    configuration: list[ScenarioConfiguration] | None = None

    def option_combinations(self) -> list[dict[str, str]]:
        """Every combination of the configuration's values (one empty set without any)."""
        if not self.configuration:
            return [{}]
        names = [config.name for config in self.configuration]
        values = [config.values for config in self.configuration]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
