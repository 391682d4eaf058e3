"""The official SDK's acceptance tests on the emulator, over real runs of a pushed app whose two
instances give known values: control x, candidate 2x + 1. The expected statistics and verdicts
are worked out here by hand, so a wrong formula or operator fails."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import POLL, XS, api, scaler_with_control_runs

ACCEPTANCE = "/v1/applications/scale-app/experiments/acceptance"


@pytest.fixture
def scaler(client: cloud.Client, tmp_path: Path) -> cloud.Application:
    """control: value = x; candidate: value = 2x + 1; input set "xs" of the five inputs."""
    app, run_ids = scaler_with_control_runs(client, tmp_path)
    app.new_input_set(id="xs", run_ids=run_ids)
    return app


def metric(field: str, operator: str, statistic: str, tolerance: Any = None) -> cloud.Metric:
    kind, value = tolerance if tolerance is not None else ("", 0.0)
    return cloud.Metric(
        field=field,
        metric_type=cloud.MetricType.direct_comparison,
        params=cloud.MetricParams(
            operator=operator, tolerance=cloud.MetricTolerance(type=kind, value=value)
        ),
        statistic=statistic,
    )


def test_acceptance_verdict_per_metric_from_real_runs(scaler: cloud.Application) -> None:
    metrics = [
        metric("result.value", "gt", "mean"),  # 9 > 4: passes
        metric("result.value", "lt", "mean", ("relative", 0.5)),  # 9 < 4 + 2: fails
        metric("result.value", "le", "p50", ("absolute", 4.0)),  # 7 <= 3 + 4: passes
        metric("result.value", "le", "p50", ("absolute", 3.9)),  # 7 <= 6.9: fails
        metric("x", "eq", "max"),  # from the output's metrics object, same on both: passes
        metric("result.missing", "ge", "mean"),  # no value on either side: fails
    ]
    test = scaler.new_acceptance_test_with_result(
        candidate_instance_id="candidate",
        baseline_instance_id="control",
        metrics=metrics,
        id="scale-check",
        input_set_id="xs",
        polling_options=POLL,
    )
    assert test.status == cloud.ExperimentStatus.COMPLETED
    assert test.experiment_id == "scale-check"
    assert test.control is not None and test.control.version_id == "v1"
    assert test.results is not None and test.results.metric_results is not None
    verdicts = [m.passed for m in test.results.metric_results]
    assert verdicts == [True, False, True, False, True, False]
    assert test.results.passed is False
    first = test.results.metric_results[0].statistics
    control, candidate = first.control, first.candidate
    assert (control.instance_id, candidate.instance_id) == ("control", "candidate")
    assert control.number_of_runs_total == candidate.number_of_runs_total == 5
    cand = [2 * x + 1 for x in XS]
    summary = candidate.distribution_summary_statistics
    assert (summary.count, summary.min, summary.max) == (5, 3.0, 21.0)
    assert summary.mean == pytest.approx(statistics.fmean(cand))
    assert summary.std == pytest.approx(statistics.stdev(cand))  # sample, not population
    assert summary.shift_parameter == 10.0
    assert summary.shifted_geometric_mean == pytest.approx(
        statistics.geometric_mean([v + 10 for v in cand]) - 10
    )
    cuts = statistics.quantiles(XS, n=100, method="inclusive")
    percentiles = control.distribution_percentiles
    assert (percentiles.p25, percentiles.p50) == (2.0, 3.0)
    assert percentiles.p90 == pytest.approx(cuts[89])
    assert percentiles.p90 == pytest.approx(4 + 0.6 * (10 - 4))  # h = 3.6, between 4 and 10
    missing = test.results.metric_results[5].statistics.control
    assert missing.number_of_runs_total == 5
    assert missing.distribution_summary_statistics.count == 0
    # The experiment underneath is an ordinary batch experiment of ten runs.
    batch = scaler.batch_experiment("scale-check")
    assert batch.number_of_runs == 10 and batch.instance_ids == ["candidate", "control"]


def test_acceptance_lifecycle_on_an_existing_experiment(scaler: cloud.Application) -> None:
    inputs = scaler.input_set("xs")
    runs = cloud.batch_experiment.to_runs(["candidate", "control"], inputs)
    scaler.new_batch_experiment_with_result(id="later", runs=runs, polling_options=POLL)
    # No input set: the acceptance test reads the batch experiment of the same id.
    made = scaler.new_acceptance_test(
        candidate_instance_id="candidate",
        baseline_instance_id="control",
        metrics=[metric("result.value", "ge", "min")],
        id="later",
        description="all pass",
    )
    assert made.status == cloud.ExperimentStatus.COMPLETED
    assert made.results is not None and made.results.passed is True
    assert [t.id for t in scaler.list_acceptance_tests()] == ["later"]
    renamed = scaler.update_acceptance_test("later", name="renamed")
    assert (renamed.name, renamed.description) == ("renamed", "all pass")
    assert scaler.acceptance_test("later").name == "renamed"
    run_ids = [r.id for r in scaler.batch_experiment("later").runs or []]
    scaler.delete_acceptance_test("later")
    with pytest.raises(requests.HTTPError) as caught:
        scaler.acceptance_test("later")
    assert caught.value.response is not None and caught.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as caught:
        scaler.batch_experiment("later")  # its experiment went with it
    assert caught.value.response is not None and caught.value.response.status_code == 404
    with pytest.raises(requests.HTTPError):
        scaler.run_information(run_ids[0])


def test_bad_metrics_and_unknown_ids_are_refused(
    scaler: cloud.Application, emu: ThreadedEmulator
) -> None:
    inputs = scaler.input_set("xs")
    runs = cloud.batch_experiment.to_runs(["candidate", "control"], inputs)
    scaler.new_batch_experiment(id="judged", runs=runs)
    good = metric("result.value", "gt", "mean").to_dict()

    def refused(**changes: Any) -> tuple[int, str]:
        body = {
            "id": "judged",
            "name": "judged",
            "experiment_id": "judged",
            "control": {"instance_id": "control"},
            "candidate": {"instance_id": "candidate"},
            "metrics": [good],
            **changes,
        }
        answer = api(emu.url, "POST", ACCEPTANCE, body)
        return answer.status_code, answer.json()["error"]

    status, error = refused(metrics=[])
    assert status == 400 and "non-empty" in error
    status, error = refused(metrics=[{**good, "params": {"operator": "gte"}}])
    assert status == 400 and "'gte' is unknown" in error
    status, error = refused(metrics=[{**good, "statistic": "median"}])
    assert status == 400 and "'median' is unknown" in error
    status, error = refused(metrics=[{k: v for k, v in good.items() if k != "field"}])
    assert status == 400 and "field is required" in error
    bad_tolerance = {"operator": "gt", "tolerance": {"type": "percent", "value": 1}}
    status, error = refused(metrics=[{**good, "params": bad_tolerance}])
    assert status == 400 and "'percent' is unknown" in error
    status, error = refused(candidate={"instance_id": "nobody"})
    assert status == 404 and "instance 'nobody' not found" in error
    status, error = refused(id="other", experiment_id="other")
    assert status == 404 and "batch experiment 'other' not found" in error
    assert scaler.list_acceptance_tests() == []
    # The SDK itself, without an input set and without an experiment of that id.
    with pytest.raises(ValueError, match="input_set_id must be defined"):
        scaler.new_acceptance_test(
            candidate_instance_id="candidate",
            baseline_instance_id="control",
            metrics=[good],
            id="never-made",
        )
