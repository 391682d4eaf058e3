"""The official SDK's batch experiment calls on the emulator: the runs are real runs of the
named instances on the input set's inputs, and the summaries are computed from their outputs."""

from __future__ import annotations

import statistics
from typing import Any

import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import POLL, api, builtin_value

BATCH = "/v1/applications/exp-app/experiments/batch"
PAYLOADS = [{"x": i} for i in range(5)]


def input_set(app: cloud.Application, set_id: str = "five") -> cloud.InputSet:
    run_ids = [app.new_run(input=p) for p in PAYLOADS]
    for run_id in run_ids:
        app.run_result_with_polling(run_id, polling_options=POLL)
    return app.new_input_set(id=set_id, run_ids=run_ids)


def group(batch: cloud.BatchExperiment, keys: list[str], values: list[str]) -> dict[str, Any]:
    summaries = batch.grouped_distributional_summaries or []
    found = [g for g in summaries if g["group_keys"] == keys and g["group_values"] == values]
    assert len(found) == 1, summaries
    summary: dict[str, Any] = found[0]
    return summary


def test_batch_experiment_runs_each_input_on_each_instance(
    app: cloud.Application, emu: ThreadedEmulator
) -> None:
    inputs = input_set(app)
    before = emu.stats()["runs_created"]
    runs = cloud.batch_experiment.to_runs(["devint", "other"], inputs)
    batch = app.new_batch_experiment_with_result(
        id="two-ways", name="two ways", input_set_id=inputs.id, runs=runs, polling_options=POLL
    )
    assert batch.status == cloud.ExperimentStatus.COMPLETED
    assert (batch.number_of_runs, batch.number_of_completed_runs) == (10, 10)
    assert batch.instance_ids == ["devint", "other"] and batch.input_set_id == "five"
    # Ten real runs, counted like any run, each carrying the experiment.
    assert emu.stats()["runs_created"] - before == 10
    assert emu.stats()["experiments"]["experiment_runs"] == 10
    assert batch.runs is not None and len(batch.runs) == 10
    assert {r.experiment_id for r in batch.runs} == {"two-ways"}
    assert {r.input_set_id for r in batch.runs} == {"five"}
    assert {(r.application_instance_id, r.input_id) for r in batch.runs} == {
        (i, input_id) for i in ("devint", "other") for input_id in inputs.input_ids
    }
    first = app.run_result(batch.runs[0].id)
    assert first.metadata.experiment_id == "two-ways"
    # The summary of an instance is the distribution of its runs' result.value.
    values = sorted(builtin_value(p) for p in PAYLOADS)
    summary = group(batch, ["instanceID", "versionID"], ["other", ""])
    assert summary["number_of_runs_total"] == 5
    dist = summary["indicator_distributions"]["result.value"]
    assert dist["count"] == 5
    assert dist["mean"] == pytest.approx(statistics.fmean(values))
    assert dist["std"] == pytest.approx(statistics.stdev(values))
    assert (dist["min"], dist["max"]) == (pytest.approx(values[0]), pytest.approx(values[-1]))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for name in ("p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99"):
        assert dist["percentiles"][name] == pytest.approx(cuts[int(name[1:]) - 1])
    sgm = statistics.geometric_mean([v + 10 for v in values]) - 10
    assert dist["shifted_geometric_mean"] == {"value": pytest.approx(sgm), "shift": 10.0}
    # Per input too: one run each.
    per_input = group(
        batch, ["inputID", "instanceID", "versionID"], [inputs.input_ids[2], "devint", ""]
    )
    assert per_input["indicator_distributions"]["result.value"]["mean"] == pytest.approx(
        builtin_value(PAYLOADS[2])
    )


def test_batch_experiment_status_follows_its_runs(
    app: cloud.Application, emu: ThreadedEmulator
) -> None:
    inputs = input_set(app)
    # Option sets: one whose runs take long, so the experiment is seen started first.
    runs = [
        cloud.BatchExperimentRun(input_id=i, instance_id="devint", option_set="slow")
        for i in inputs.input_ids[:2]
    ]
    batch_id = app.new_batch_experiment(
        id="slowly", input_set_id=inputs.id, runs=runs,
        option_sets={"slow": {"emulator.duration": "3600"}},
    )  # fmt: skip
    started = app.batch_experiment_metadata(batch_id)
    assert started.status == cloud.ExperimentStatus.STARTED
    assert (started.number_of_runs, started.number_of_completed_runs) == (2, 0)
    assert started.option_sets == {"slow": {"emulator.duration": "3600"}}
    assert app.batch_experiment(batch_id).grouped_distributional_summaries is None
    # Failing runs: an experiment whose runs all failed has failed.
    failing = [
        cloud.BatchExperimentRun(input_id=i, instance_id="devint", option_set="fail")
        for i in inputs.input_ids[:2]
    ]
    failed = app.new_batch_experiment_with_result(
        id="failing", input_set_id=inputs.id, runs=failing,
        option_sets={"fail": {"emulator.fail": "no solution"}}, polling_options=POLL,
    )  # fmt: skip
    assert failed.status == cloud.ExperimentStatus.FAILED
    assert failed.runs is not None and {r.status_v2.value for r in failed.runs} == {"failed"}
    # Deleting the started experiment cancels and removes its runs.
    run_ids = [r.id for r in app.batch_experiment(batch_id).runs or []]
    app.delete_batch_experiment(batch_id)
    for run_id in run_ids:
        with pytest.raises(requests.HTTPError):
            app.run_information(run_id)
    with pytest.raises(requests.HTTPError) as caught:
        app.batch_experiment_metadata(batch_id)
    assert caught.value.response is not None and caught.value.response.status_code == 404


def test_list_update_and_kinds(app: cloud.Application) -> None:
    inputs = input_set(app)
    runs = cloud.batch_experiment.to_runs(["devint"], inputs)
    for batch_id in ("b1", "b2", "b3"):
        app.new_batch_experiment(id=batch_id, input_set_id=inputs.id, runs=runs)
    app.new_batch_experiment(id="s1", input_set_id=inputs.id, runs=runs, type="scenario")
    assert [b.id for b in app.list_batch_experiments()] == ["b3", "b2", "b1"]
    with pytest.raises(requests.HTTPError) as caught:
        app.new_batch_experiment(id="b1", input_set_id=inputs.id, runs=runs)
    assert caught.value.response is not None and caught.value.response.status_code == 409
    assert [b.id for b in app.list_scenario_tests()] == ["s1"]
    info = app.update_batch_experiment("b2", name="second", description="the middle one")
    assert (info.name, info.description) == ("second", "the middle one")
    assert app.batch_experiment_metadata("b2").name == "second"


def test_refusals_name_what_is_unknown(
    app: cloud.Application, client: cloud.Client, emu: ThreadedEmulator
) -> None:
    inputs = input_set(app)
    one = inputs.input_ids[0]

    def refused(body: dict[str, Any], path: str = BATCH) -> tuple[int, str]:
        answer = api(emu.url, "POST", path, {"id": "bad", "name": "bad", **body})
        return answer.status_code, answer.json()["error"]

    assert refused({"input_set_id": "nope", "runs": [{"input_id": one, "instance_id": "a"}]}) == (
        404,
        "input set 'nope' not found",
    )
    status, error = refused({"runs": [{"input_id": "ghost", "instance_id": "a"}]})
    assert status == 404 and "ghost" in error
    status, error = refused({"runs": [{"input_id": one, "instance_id": "a", "option_set": "x"}]})
    assert status == 400 and "'x'" in error
    status, error = refused({"runs": [{"input_id": one}]})
    assert status == 400 and "instance_id or a version_id" in error
    status, error = refused({"input_set_id": inputs.id})
    assert status == 400 and "instance_ids" in error
    # A run the API refuses (a bad emulator knob) leaves no experiment and no run behind.
    before = {r.id for r in app.list_runs()}
    status, error = refused(
        {
            "option_sets": {"bad": {"emulator.duration": "-1"}},
            "runs": [
                {"input_id": one, "instance_id": "a"},
                {"input_id": one, "instance_id": "a", "option_set": "bad"},
            ],
        }
    )
    assert status == 400 and "emulator.duration" in error
    assert {r.id for r in app.list_runs()} == before  # the first run was made, then removed
    # In an app that was created (not auto-created), instances and versions must exist.
    made = cloud.Application.new(client=client, id="real-app")
    real = "/v1/applications/real-app/experiments/batch"
    made_run = made.new_run(input={"x": 1})
    made.run_result_with_polling(made_run, polling_options=POLL)
    status, error = refused({"runs": [{"input_id": made_run, "instance_id": "missing"}]}, real)
    assert status == 404 and "instance 'missing' not found" in error
    status, error = refused({"runs": [{"input_id": made_run, "version_id": "v9"}]}, real)
    assert status == 404 and "version 'v9' not found" in error
    # Nothing was created by a refused request.
    assert app.list_batch_experiments() == [] and made.list_batch_experiments() == []
    assert emu.stats()["experiments"]["experiment_runs"] == 0
