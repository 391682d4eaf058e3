"""asyncrun's experiment calls, awaited, against the emulator that runs experiments for real:
input sets from runs, managed inputs and a time window; a batch experiment, an acceptance test
and a scenario test made of real runs of a pushed app, read into the SDK's models."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import asyncrun
from asyncrun import NotFoundError
from asyncrun import experiments as ex
from asyncrun.apps import InstanceConfiguration
from asyncrun.emulator import Emulator
from tests.client.conftest import fast_client

from .support import scaler_app

XS = [1, 2, 3, 4, 10]
POLL = asyncrun.PollingOptions(
    initial_delay=0.02, delay=0.05, backoff=0, jitter=0, max_delay=0.1, max_duration=120
)


@pytest.fixture
async def emulated(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> AsyncIterator[Emulator]:
    async with emulator_factory(time_scale=50.0, page_size=2) as running:
        yield running


@pytest.fixture
async def client(emulated: Emulator) -> AsyncIterator[asyncrun.AsyncClient]:
    async with fast_client(emulated.url) as c:
        yield c


@pytest.fixture
async def scaler(client: asyncrun.AsyncClient, tmp_path: Path) -> asyncrun.AsyncApplication:
    """control: value = x; candidate: value = 2x + 1; input set "xs" of five control runs."""
    app = await client.new_application("scale-app")
    await app.push(scaler_app(tmp_path / "scaler"))
    await app.new_version("v1")
    for instance_id, options in (("control", {"scale": "1"}), ("candidate", {"scale": "2"})):
        if instance_id == "candidate":
            options["offset"] = "1"
        config = InstanceConfiguration(options=options)
        await app.new_instance("v1", instance_id, configuration=config)
    run_ids = [await app.new_run(input={"x": x}, instance_id="control") for x in XS]
    for run_id in run_ids:
        await app.run_metadata_with_polling(run_id, POLL)
    await app.new_input_set(id="xs", name="Xs", run_ids=run_ids)
    return app


def metric(operator: str, statistic: str, tolerance: tuple[str, float] = ("", 0.0)) -> ex.Metric:
    return ex.Metric(
        field="result.value",
        metric_type=ex.MetricType.direct_comparison,
        params=ex.MetricParams(
            operator=operator,
            tolerance=ex.MetricTolerance(type=tolerance[0], value=tolerance[1]),
        ),
        statistic=statistic,
    )


async def test_input_sets(scaler: asyncrun.AsyncApplication) -> None:
    xs = await scaler.input_set("xs")
    assert (xs.name, len(xs.input_ids)) == ("Xs", 5)
    managed = [await scaler.new_managed_input(input={"x": x}) for x in (7, 8)]
    from_inputs = await scaler.new_input_set(id="managed", inputs=managed)
    assert from_inputs.all_input_ids() == [m.id for m in managed]
    now = datetime.now(UTC)
    window = await scaler.new_input_set(
        id="window",
        instance_id="control",
        start_time=now - timedelta(hours=1),
        end_time=now + timedelta(hours=1),
        maximum_runs=3,
    )
    assert len(window.all_input_ids()) == 3
    listed = await scaler.list_input_sets()  # pages of 2: three sets cross a page
    assert sorted(s.id for s in listed) == ["managed", "window", "xs"]
    unpaged = await scaler.list_input_sets(no_pagination=True)
    assert sorted(s.id for s in unpaged) == ["managed", "window", "xs"]
    updated = await scaler.update_input_set("window", name="Last three", description="d")
    assert (updated.name, updated.description, len(updated.all_input_ids())) == (
        "Last three",
        "d",
        3,
    )
    await scaler.delete_input_set("window")
    with pytest.raises(NotFoundError, match="input set 'window' not found"):
        await scaler.input_set("window")


async def test_batch_experiment_of_real_runs(scaler: asyncrun.AsyncApplication) -> None:
    xs = await scaler.input_set("xs")
    runs = ex.to_runs(["candidate", "control"], xs)
    runs.append(
        ex.BatchExperimentRun(input_id=xs.input_ids[0], instance_id="control", option_set="big")
    )
    batch = await scaler.new_batch_experiment_with_result(
        name="Scales",
        id="scales",
        runs=runs,
        option_sets={"big": {"scale": "100"}},
        polling_options=POLL,
    )
    assert isinstance(batch, ex.BatchExperiment)
    assert batch.status == ex.ExperimentStatus.COMPLETED
    assert (batch.name, batch.number_of_runs, batch.number_of_completed_runs) == ("Scales", 11, 11)
    assert sorted(batch.instance_ids) == ["candidate", "control"]
    assert batch.runs is not None and len(batch.runs) == 11
    assert all(r.status_v2 == asyncrun.StatusV2.succeeded for r in batch.runs)
    big = [r for r in batch.runs if r.option_set == "big"]
    assert len(big) == 1 and big[0].experiment_id == "scales"
    result = await scaler.run_result(big[0].id)
    assert result.output["statistics"]["result"]["value"] == 100.0  # x = 1, scale 100
    assert len(await scaler.batch_experiment_runs("scales")) == 11
    assert [b.id for b in await scaler.list_batch_experiments()] == ["scales"]
    assert await scaler.list_scenario_tests() == []
    info = await scaler.update_batch_experiment("scales", description="eleven runs")
    assert (info.name, info.description) == ("Scales", "eleven runs")
    await scaler.delete_batch_experiment("scales")
    with pytest.raises(NotFoundError, match="batch experiment 'scales' not found"):
        await scaler.batch_experiment_metadata("scales")


async def test_acceptance_test_verdicts_from_real_runs(scaler: asyncrun.AsyncApplication) -> None:
    metrics: list[ex.Metric | dict[str, Any]] = [
        metric("gt", "mean"),  # 9 > 4: passes
        metric("lt", "mean", ("relative", 0.5)),  # 9 < 4 + 2: fails
        metric("le", "p50", ("absolute", 4.0)),  # 7 <= 3 + 4: passes
        {**metric("le", "p50").to_dict(), "params": {"operator": "le"}},  # 7 <= 3: fails
    ]
    test = await scaler.new_acceptance_test_with_result(
        candidate_instance_id="candidate",
        baseline_instance_id="control",
        metrics=metrics,
        id="scale-check",
        input_set_id="xs",
        polling_options=POLL,
    )
    assert isinstance(test, ex.AcceptanceTest)
    assert test.status == ex.ExperimentStatus.COMPLETED
    assert test.results is not None and test.results.metric_results is not None
    assert [m.passed for m in test.results.metric_results] == [True, False, True, False]
    assert test.results.passed is False
    first = test.results.metric_results[0]
    assert (
        isinstance(first, ex.MetricResult)
        and first.metric.params.operator == ex.Comparison.greater_than
    )
    control, candidate = first.statistics.control, first.statistics.candidate
    assert (control.instance_id, control.version_id) == ("control", "v1")
    summary = candidate.distribution_summary_statistics
    assert summary.mean == pytest.approx(statistics.fmean(2 * x + 1 for x in XS))
    assert control.distribution_percentiles.p50 == 3.0
    batch = await scaler.batch_experiment("scale-check")  # the experiment underneath
    assert batch.number_of_runs == 10
    assert [t.id for t in await scaler.list_acceptance_tests()] == ["scale-check"]
    renamed = await scaler.update_acceptance_test("scale-check", name="renamed")
    assert renamed.name == "renamed"
    await scaler.delete_acceptance_test("scale-check")
    with pytest.raises(NotFoundError, match="acceptance test 'scale-check' not found"):
        await scaler.acceptance_test("scale-check")


async def test_acceptance_test_on_an_existing_batch_experiment(
    scaler: asyncrun.AsyncApplication,
) -> None:
    xs = await scaler.input_set("xs")
    runs = ex.to_runs(["candidate", "control"], xs)
    await scaler.new_batch_experiment_with_result(id="later", runs=runs, polling_options=POLL)
    made = await scaler.new_acceptance_test(
        "candidate", "control", [metric("ge", "min")], id="later", description="all pass"
    )
    assert made.experiment_id == "later"
    done = await scaler.acceptance_test_with_polling("later", POLL)
    assert done.results is not None and done.results.passed is True


async def test_scenario_test_of_real_runs(scaler: asyncrun.AsyncApplication) -> None:
    scenarios: list[ex.Scenario | dict[str, Any]] = [
        ex.Scenario(
            instance_id="control",
            scenario_input=ex.ScenarioInput(
                scenario_input_type=ex.ScenarioInputType.INPUT_SET, scenario_input_data="xs"
            ),
            configuration=[ex.ScenarioConfiguration(name="scale", values=["1", "3"])],
        ),
        {
            "instance_id": "candidate",
            "scenario_id": "fresh",
            "scenario_input": {"scenario_input_type": "new", "scenario_input_data": [{"x": 5}]},
        },
    ]
    test = await scaler.new_scenario_test_with_result(
        scenarios, id="grid", repetitions=1, polling_options=POLL
    )
    assert test.type == "scenario" and test.status == ex.ExperimentStatus.COMPLETED
    # control: 2 option sets x 5 inputs x 2 repetitions; fresh: 1 x 1 x 2
    assert test.runs is not None and len(test.runs) == 22
    assert sorted(test.option_sets or {}) == ["fresh_0", "scenario-1_0", "scenario-1_1"]
    fresh = [r for r in test.runs if r.scenario_id == "fresh"]
    assert {r.repetition for r in fresh} == {0, 1}
    assert [t.id for t in await scaler.list_scenario_tests()] == ["grid"]
    assert await scaler.list_batch_experiments() == []
    assert (await scaler.scenario_test_metadata("grid")).number_of_runs == 22
    await scaler.update_scenario_test("grid", name="Grid")
    assert (await scaler.scenario_test("grid")).name == "Grid"
    await scaler.delete_scenario_test("grid")
    with pytest.raises(NotFoundError):
        await scaler.scenario_test("grid")


async def test_the_emulators_refusals_come_as_the_error_tree(
    scaler: asyncrun.AsyncApplication,
) -> None:
    """What only the server can know (unknown instances, input sets, runs) is a NotFoundError
    that names it."""
    xs = await scaler.input_set("xs")
    with pytest.raises(NotFoundError, match="nobody"):
        await scaler.new_batch_experiment(
            runs=[ex.BatchExperimentRun(input_id=xs.input_ids[0], instance_id="nobody")]
        )
    with pytest.raises(NotFoundError, match="input set 'nope' not found"):
        await scaler.new_acceptance_test(
            "candidate", "control", [metric("gt", "mean")], input_set_id="nope"
        )
    with pytest.raises(NotFoundError, match="run 'run-missing' not found"):
        await scaler.new_input_set(run_ids=["run-missing"])
    assert await scaler.list_batch_experiments() == []
