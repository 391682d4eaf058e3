"""The sweep's verdict and the platform's acceptance test agree: the same two instances over
the same inputs, judged by the emulator's acceptance test (driven by the official SDK, as a
user would) and by `asyncrun batch --metrics`, give the same statistics and the same pass or
fail, metric by metric (every statistic and operator, both tolerance types, the three places a
value is looked up, a metric no run has, and a run that fails)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nextmv
import pytest
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import (
    APP_ID,
    CANDIDATE,
    CONTROL,
    KEY,
    cli,
    metric,
    router_emulator,
    sweep_args,
    write_inputs,
    write_metrics,
)

pytestmark = pytest.mark.slow

POLL = nextmv.PollingOptions(
    initial_delay=0.05, delay=0.05, backoff=0, jitter=0, max_delay=0.2, max_duration=120
)
INPUTS = [{"n": n} for n in (1, 2, 3, 5, 8, 13)] + [{"n": 4, "outlier": True}, {"n": 6, "fail": 1}]
METRICS = [
    metric("result.value", "le", statistic="mean", tolerance=("relative", 0.15)),
    metric("result.value", "lt", statistic="mean", tolerance=("relative", 0.05)),
    metric("result.value", "gt", statistic="min"),
    metric("result.value", "ge", statistic="max", tolerance=("absolute", 0.1)),
    metric("result.value", "le", statistic="std", tolerance=("absolute", 1)),
    metric("result.value", "ne", statistic="shifted_geometric_mean", tolerance=("absolute", 0.5)),
    metric("result.value", "eq", statistic="p01", tolerance=("absolute", 0.2)),
    metric("result.value", "lt", statistic="p05"),
    metric("result.value", "ge", statistic="p10"),
    metric("result.value", "le", statistic="p25", tolerance=("relative", 0.1)),
    metric("result.value", "le", statistic="p50", tolerance=("relative", 0.1)),
    metric("result.value", "ge", statistic="p75", tolerance=("absolute", 3)),
    metric("result.value", "lt", statistic="p90", tolerance=("relative", 0.001)),
    metric("result.value", "le", statistic="p95", tolerance=("absolute", 70)),
    metric("result.value", "le", statistic="p99", tolerance=("absolute", 100)),
    metric("result.custom.late", "eq", statistic="mean"),  # nested in statistics
    metric("cost", "lt", statistic="p50", tolerance=("absolute", 1)),  # in `metrics`
    metric("gap", "eq", statistic="max"),  # at the output's root
    metric("nobody.has.this", "ge"),  # no value on either side
]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    with router_emulator(tmp_path_factory.mktemp("app")) as emulator:
        yield emulator


def platform_verdict(emu: ThreadedEmulator) -> cloud.AcceptanceTestResults:
    """The emulator's acceptance test of the inputs, as the official SDK creates it."""
    app = cloud.Application(client=cloud.Client(api_key=KEY, url=emu.url), id=APP_ID)
    run_ids = [app.new_run(input=item, instance_id=CONTROL) for item in INPUTS]
    for run_id in run_ids:
        wait_until_done(app, run_id)
    app.new_input_set(id="router-inputs", name="router inputs", run_ids=run_ids)
    test = app.new_acceptance_test_with_result(
        candidate_instance_id=CANDIDATE,
        baseline_instance_id=CONTROL,
        metrics=list(METRICS),  # the dicts of the metrics file, sent as they are
        id="router-check",
        input_set_id="router-inputs",
        polling_options=POLL,
    )
    assert test.status == cloud.ExperimentStatus.COMPLETED
    assert test.results is not None
    return test.results


def wait_until_done(app: cloud.Application, run_id: str) -> None:
    for _ in range(600):
        status = app.run_information(run_id).metadata.status_v2
        if status in (nextmv.StatusV2.succeeded, nextmv.StatusV2.failed):
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def sweep_verdict(emu: ThreadedEmulator, tmp: Path) -> tuple[int, cloud.AcceptanceTestResults]:
    inputs = write_inputs(tmp / "inputs", INPUTS)
    metrics = write_metrics(tmp / "metrics.json", METRICS)
    result = cli(sweep_args(emu.url, tmp, inputs, metrics), tmp)
    document = json.loads((tmp / "out" / "acceptance.json").read_text())
    return result.returncode, cloud.AcceptanceTestResults.from_dict(document)


def identity_of(stats: cloud.ResultStatistics) -> tuple[str, str, int]:
    return (stats.instance_id, stats.version_id, stats.number_of_runs_total)


def statistics_of(stats: cloud.ResultStatistics) -> dict[str, Any]:
    return {
        **stats.distribution_summary_statistics.to_dict(),
        **stats.distribution_percentiles.to_dict(),
    }


def test_the_sweep_and_the_platform_agree_metric_by_metric(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    platform = platform_verdict(emu)
    code, sweep = sweep_verdict(emu, tmp_path)
    assert platform.metric_results is not None and sweep.metric_results is not None
    assert len(platform.metric_results) == len(sweep.metric_results) == len(METRICS)
    for theirs, ours in zip(platform.metric_results, sweep.metric_results, strict=True):
        where = f"{ours.metric.field} {ours.metric.statistic}"
        assert ours.metric.to_dict() == theirs.metric.to_dict(), where
        assert ours.passed == theirs.passed, where
        for side in ("control", "candidate"):
            assert identity_of(getattr(ours.statistics, side)) == identity_of(
                getattr(theirs.statistics, side)
            ), f"{where} {side}"
            expected = statistics_of(getattr(theirs.statistics, side))
            got = statistics_of(getattr(ours.statistics, side))
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), f"{where} {side}"
    assert sweep.passed == platform.passed is False
    assert code == 1
    verdicts = [r.passed for r in sweep.metric_results]
    assert True in verdicts and verdicts.count(False) >= 3  # both outcomes are compared
    first = sweep.metric_results[0].statistics.control
    assert (first.number_of_runs_total, first.distribution_summary_statistics.count) == (8, 7)
