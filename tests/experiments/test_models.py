"""The experiment models read what the SDK's own models write (their docstring examples), write
what the SDK reads back, keep unknown fields and values, and refuse what the SDK refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from nextmv import cloud

import asyncrun
from asyncrun import ConfigError
from asyncrun import experiments as ex

from . import payloads as p

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def sdk_examples() -> list[tuple[str, Any, type[Any]]]:
    """The SDK's docstring examples, built with the SDK's classes."""
    metric = cloud.Metric(
        field="solution.objective",
        metric_type=cloud.MetricType.direct_comparison,
        params=cloud.MetricParams(
            operator=cloud.Comparison.less_than,
            tolerance=cloud.MetricTolerance(type=cloud.MetricToleranceType.relative, value=0.05),
        ),
        statistic=cloud.StatisticType.mean,
    )
    stats = cloud.ResultStatistics(
        instance_id="instance-123",
        version_id="version-456",
        number_of_runs_total=10,
        distribution_summary_statistics=cloud.DistributionSummaryStatistics(**p.SUMMARY),
        distribution_percentiles=cloud.DistributionPercentiles(**p.PERCENTILES),
    )
    result = cloud.MetricResult(
        metric=metric,
        statistics=cloud.MetricStatistics(control=stats, candidate=stats),
        passed=True,
    )
    test = cloud.AcceptanceTest(
        id="test-123",
        name="Performance acceptance test",
        description="Testing performance improvements",
        app_id="app-456",
        experiment_id="exp-789",
        control=cloud.ComparisonInstance(instance_id="control-instance", version_id="cv"),
        candidate=cloud.ComparisonInstance(instance_id="candidate-instance", version_id="dv"),
        metrics=[metric],
        created_at=NOW,
        updated_at=NOW,
        status=cloud.ExperimentStatus.STARTED,
        results=cloud.AcceptanceTestResults(passed=True, metric_results=[result]),
    )
    input_set = cloud.InputSet(
        app_id="app_123456789",
        id="is_987654321",
        name="My Input Set",
        description="A collection of routing inputs",
        input_ids=["inp_111", "inp_222"],
        created_at=NOW,
        updated_at=NOW,
        inputs=[cloud.ManagedInput(id="inp_111", name="a")],
    )
    batch = cloud.BatchExperiment(
        id="b-1",
        name="n",
        created_at=NOW,
        updated_at=NOW,
        status=cloud.ExperimentStatus.COMPLETED,
        input_set_id="is-1",
        instance_ids=["a", "b"],
        option_sets={"s": {"k": "v"}},
        grouped_distributional_summaries=[{"group_keys": []}],
    )
    scenario = cloud.Scenario(
        scenario_input=cloud.ScenarioInput(
            scenario_input_type=cloud.ScenarioInputType.INPUT_SET, scenario_input_data="is-1"
        ),
        instance_id="inst",
        configuration=[cloud.ScenarioConfiguration(name="x", values=["1", "2"])],
    )
    return [
        ("metric", metric, ex.Metric),
        ("result statistics", stats, ex.ResultStatistics),
        ("metric result", result, ex.MetricResult),
        ("acceptance test", test, ex.AcceptanceTest),
        (
            "acceptance results",
            cloud.AcceptanceTestResults(passed=False, error="x"),
            ex.AcceptanceTestResults,
        ),
        ("input set", input_set, ex.InputSet),
        ("batch experiment", batch, ex.BatchExperiment),
        (
            "batch metadata",
            cloud.BatchExperimentMetadata(
                id="b", name="n", created_at=NOW, updated_at=NOW, app_id="a"
            ),
            ex.BatchExperimentMetadata,
        ),
        (
            "batch run",
            cloud.BatchExperimentRun(input_id="i", version_id="v", repetition=2),
            ex.BatchExperimentRun,
        ),
        ("scenario", scenario, ex.Scenario),
    ]


@pytest.mark.parametrize(
    ("sdk_model", "ours"), [e[1:] for e in sdk_examples()], ids=[e[0] for e in sdk_examples()]
)
def test_round_trip_with_the_sdk(sdk_model: Any, ours: type[Any]) -> None:
    sdk_dict = sdk_model.to_dict()
    parsed = ours.model_validate(sdk_dict)
    assert parsed.to_dict() == sdk_dict
    assert type(sdk_model).from_dict(parsed.to_dict()) == sdk_model


def test_the_sdk_names_are_exported_where_the_sdk_exports_them() -> None:
    for name in (
        "AcceptanceTest", "AcceptanceTestResults", "BatchExperiment", "BatchExperimentInformation",
        "BatchExperimentMetadata", "BatchExperimentRun", "Comparison", "ComparisonInstance",
        "DistributionPercentiles", "DistributionSummaryStatistics", "ExperimentStatus", "InputSet",
        "ManagedInput", "Metric", "MetricParams", "MetricResult", "MetricStatistics",
        "MetricTolerance", "MetricToleranceType", "MetricType", "ResultStatistics",
        "ScenarioConfiguration", "ScenarioInput", "ScenarioInputType", "StatisticType",
    ):  # fmt: skip
        assert hasattr(cloud, name)
        assert name in asyncrun.__all__, name
    # asyncrun.Scenario is a client-side batch's scenario: the SDK's is in asyncrun.experiments
    assert asyncrun.Scenario.__module__ != ex.Scenario.__module__
    assert {m.value for m in ex.StatisticType} == {m.value for m in cloud.StatisticType}
    assert {m.value for m in ex.Comparison} == {m.value for m in cloud.Comparison}
    assert {m.name for m in ex.ExperimentStatus} == {m.name for m in cloud.ExperimentStatus}


def test_answers_are_lenient() -> None:
    test = ex.AcceptanceTest.model_validate(
        {
            **p.acceptance_test(),
            "status": "paused",
            "metrics": [{**p.METRIC, "params": {"operator": "approx", "tolerance": {}}}],
            "new_field": {"x": 1},
        }
    )
    assert test.status == "paused"
    assert test.metrics is not None and test.metrics[0].params.operator == "approx"
    assert test.to_dict()["new_field"] == {"x": 1}
    assert ex.AcceptanceTest.model_validate({"id": "a"}).status == ex.ExperimentStatus.UNKNOWN
    batch = ex.BatchExperiment.model_validate({"id": "b", "status": "completed"})
    assert batch.status is ex.ExperimentStatus.COMPLETED and batch.instance_ids == []


def test_experiment_runs_carry_their_experiment_fields() -> None:
    run = ex.ExperimentRun.model_validate(p.BATCH_RUNS["runs"][1])
    assert isinstance(run, asyncrun.Run)
    assert (run.input_id, run.application_instance_id, run.status_v2) == (
        "inp_111",
        "inst-b",
        asyncrun.StatusV2.succeeded,
    )


def test_input_set_ids_fall_back_on_its_managed_inputs() -> None:
    assert ex.InputSet.model_validate(p.INPUT_SET).all_input_ids() == ["inp_111", "inp_222"]
    assert ex.InputSet.model_validate(p.MANAGED_INPUT_SET).all_input_ids() == ["mi-1", "mi-2"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ex.BatchExperimentRun(input_id="i"), "either instance_id or version_id"),
        (lambda: ex.ScenarioConfiguration(name="x", values=[]), "values must be non-empty"),
        (
            lambda: ex.ScenarioInput(
                scenario_input_type=ex.ScenarioInputType.INPUT, scenario_input_data="is-1"
            ),
            "must be a list",
        ),
        (
            lambda: ex.ScenarioInput(
                scenario_input_type=ex.ScenarioInputType.NEW, scenario_input_data=[]
            ),
            "is empty",
        ),
    ],
)
def test_what_is_sent_is_refused_when_built_wrong(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_option_combinations_as_the_sdk() -> None:
    data = {
        "instance_id": "i",
        "scenario_input": {"scenario_input_type": "input", "scenario_input_data": ["a"]},
        "configuration": [{"name": "x", "values": ["1", "2"]}, {"name": "y", "values": ["a", "b"]}],
    }
    ours = ex.Scenario.model_validate(data).option_combinations()
    assert ours == cloud.Scenario.from_dict(data).option_combinations()
    assert len(ours) == 4
