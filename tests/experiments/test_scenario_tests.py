"""The official SDK's scenario tests on the emulator: scenarios of input sets (existing or made
from new data), instances and option combinations, with repetitions, run for real."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import POLL, scaler_app

XS = [1, 2, 3, 4, 10]


@pytest.fixture
def scaler(client: cloud.Client, tmp_path: Path) -> cloud.Application:
    """Instance "base" computes x (scale 1 by default); input set "xs" of the five inputs."""
    app = cloud.Application.new(client=client, id="scenario-app")
    app.push(app_dir=str(scaler_app(tmp_path / "scaler")))
    app.new_version(id="v1")
    app.new_instance(
        version_id="v1", id="base", configuration=cloud.InstanceConfiguration(options={})
    )
    run_ids = [app.new_run(input={"x": x}, instance_id="base") for x in XS]
    for run_id in run_ids:
        app.run_result_with_polling(run_id, polling_options=POLL)
    app.new_input_set(id="xs", run_ids=run_ids)
    return app


def summary(test: cloud.BatchExperiment, option_set: str) -> dict[str, Any]:
    found = [
        g
        for g in test.grouped_distributional_summaries or []
        if g["group_keys"] == ["scenarioID", "optionSetID"] and g["group_values"][1] == option_set
    ]
    assert len(found) == 1
    result: dict[str, Any] = found[0]
    return result


def test_scenario_test_runs_every_option_combination(
    scaler: cloud.Application, emu: ThreadedEmulator
) -> None:
    scenarios = [
        cloud.Scenario(
            scenario_id="grid",
            instance_id="base",
            scenario_input=cloud.ScenarioInput(
                scenario_input_type=cloud.ScenarioInputType.INPUT_SET, scenario_input_data="xs"
            ),
            configuration=[
                cloud.ScenarioConfiguration(name="scale", values=["1", "3"]),
                cloud.ScenarioConfiguration(name="offset", values=["0", "0.5"]),
            ],
        ),
        cloud.Scenario(
            scenario_id="fresh",
            instance_id="base",
            scenario_input=cloud.ScenarioInput(
                scenario_input_type=cloud.ScenarioInputType.NEW,
                scenario_input_data=[{"x": 100}, {"x": 200}],
            ),
        ),
    ]
    test = scaler.new_scenario_test_with_result(
        scenarios=scenarios, id="grid-test", repetitions=1, polling_options=POLL
    )
    assert test.type == "scenario" and test.status == cloud.ExperimentStatus.COMPLETED
    # 5 inputs x 4 combinations x 2 executions, and 2 new inputs x 1 x 2.
    assert test.number_of_runs == 5 * 4 * 2 + 2 * 2
    assert test.option_sets is not None and test.option_sets["grid_3"] == {
        "scale": "3",
        "offset": "0.5",
    }
    assert test.runs is not None
    assert {r.repetition for r in test.runs} == {0, 1}
    assert {r.scenario_id for r in test.runs} == {"grid", "fresh"}
    grid_3 = [r for r in test.runs if r.option_set == "grid_3"]
    assert len(grid_3) == 10 and all(r.options == {"scale": "3", "offset": "0.5"} for r in grid_3)
    # The options reached the app: scale 3, offset 0.5, on each input twice.
    dist = summary(test, "grid_3")["indicator_distributions"]["result.value"]
    expected = [3 * x + 0.5 for x in XS for _ in range(2)]
    assert dist["count"] == 10
    assert dist["mean"] == pytest.approx(statistics.fmean(expected))
    assert dist["std"] == pytest.approx(statistics.stdev(expected))
    fresh = summary(test, "fresh_0")["indicator_distributions"]["result.value"]
    assert (fresh["min"], fresh["max"], fresh["count"]) == (100.0, 200.0, 4)
    # The scenario API is the batch API of type scenario.
    assert [s.id for s in scaler.list_scenario_tests()] == ["grid-test"]
    assert scaler.list_batch_experiments() == []
    assert scaler.scenario_test_metadata("grid-test").number_of_completed_runs == 44
    info = scaler.update_scenario_test("grid-test", name="grid and fresh")
    assert scaler.scenario_test("grid-test").name == info.name == "grid and fresh"
    scaler.delete_scenario_test("grid-test")
    with pytest.raises(requests.HTTPError) as caught:
        scaler.scenario_test("grid-test")
    assert caught.value.response is not None and caught.value.response.status_code == 404
    assert emu.stats()["experiments"]["experiment_runs"] == 44


def test_scenario_of_an_unknown_input_set_is_refused(scaler: cloud.Application) -> None:
    scenario = cloud.Scenario(
        instance_id="base",
        scenario_input=cloud.ScenarioInput(
            scenario_input_type=cloud.ScenarioInputType.INPUT_SET, scenario_input_data="nope"
        ),
    )
    with pytest.raises(requests.HTTPError) as caught:
        scaler.new_scenario_test(scenarios=[scenario], id="never")
    answer = caught.value.response
    assert answer is not None and answer.status_code == 404
    assert "input set 'nope' not found" in answer.json()["error"]
