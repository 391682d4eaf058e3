"""`asyncrun batch` with two --instance-id and --metrics against the emulator, and
`asyncrun report OUT`: the verdict table, OUT/acceptance.json (parsed by the official SDK),
OUT/report.html and the exit code (0 pass, 1 a metric fails, 4 metrics pass but runs failed,
2 bad input before any request)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nextmv.cloud
import numpy as np
import pytest

from asyncrun.acceptance import judge_sweep, parse_metrics
from asyncrun.emulator import ThreadedEmulator

from .support import (
    CANDIDATE,
    CONTROL,
    cli,
    metric,
    router_emulator,
    sweep_args,
    write_inputs,
    write_metrics,
)

pytestmark = pytest.mark.slow

INPUTS = [{"n": n} for n in range(1, 9)]
PASSING = [
    metric("result.value", "le", tolerance=("relative", 0.15)),  # mean 4.95 <= 4.5 * 1.15
    metric("cost", "lt", statistic="p90", tolerance=("absolute", 5)),  # from `metrics`
    metric("gap", "eq", statistic="max"),  # at the output's root; the same on both
]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    with router_emulator(tmp_path_factory.mktemp("app")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def passing_sweep(
    emu: ThreadedEmulator, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("sweep")
    inputs = write_inputs(tmp / "inputs", INPUTS)
    metrics = write_metrics(tmp / "metrics.json", PASSING)
    return tmp / "out", cli(sweep_args(emu.url, tmp, inputs, metrics), tmp)


def sdk_results(out: Path) -> nextmv.cloud.AcceptanceTestResults:
    document = json.loads((out / "acceptance.json").read_text())
    return nextmv.cloud.AcceptanceTestResults.from_dict(document)


def test_every_metric_passing_exits_0_with_the_table_the_json_and_the_page(
    passing_sweep: tuple[Path, Any],
) -> None:
    out, result = passing_sweep
    assert result.returncode == 0, result.stdout + result.stderr
    assert "acceptance PASSED" in result.stdout
    assert result.stdout.count("│ pass") == 3
    results = sdk_results(out)
    assert results.passed is True
    assert [r.metric.field for r in results.metric_results or []] == ["result.value", "cost", "gap"]
    control_values = np.array([n for n in range(1, 9)], dtype=float)
    expected = {
        "result.value": (control_values, control_values * 1.1),
        "cost": (np.round(control_values * 2.5, 3), np.round(control_values * 1.1 * 2.5, 3)),
        "gap": (control_values * 0.01, control_values * 0.01),
    }
    for item in results.metric_results or []:
        assert item.passed is True
        for side, values in zip(("control", "candidate"), expected[item.metric.field], strict=True):
            stats = getattr(item.statistics, side)
            assert stats.instance_id == (CONTROL if side == "control" else CANDIDATE)
            assert stats.version_id == "v1"
            assert stats.number_of_runs_total == 8
            summary = stats.distribution_summary_statistics
            assert summary.count == 8
            assert summary.mean == pytest.approx(values.mean())
            assert summary.std == pytest.approx(values.std(ddof=1))
            assert stats.distribution_percentiles.p90 == pytest.approx(np.percentile(values, 90))
    page = (out / "report.html").read_text()
    assert page.count('data-chart="distribution"') == 3
    assert page.count('data-chart="difference"') == 3


def test_a_failing_metric_exits_1_and_names_it(emu: ThreadedEmulator, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "inputs", INPUTS)
    metrics = write_metrics(
        tmp_path / "metrics.json",
        [PASSING[2], metric("result.value", "lt", statistic="p50")],  # 4.95 < 4.5: no
    )
    result = cli(sweep_args(emu.url, tmp_path, inputs, metrics), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "acceptance FAILED" in result.stdout
    results = sdk_results(tmp_path / "out")
    assert results.passed is False
    assert [r.passed for r in results.metric_results or []] == [True, False]
    failing = (results.metric_results or [])[1].statistics
    assert failing.control.distribution_percentiles.p50 == pytest.approx(4.5)
    assert failing.candidate.distribution_percentiles.p50 == pytest.approx(4.95)


def test_runs_that_failed_count_in_the_total_only_and_exit_4_when_metrics_pass(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "inputs", [*INPUTS, {"n": 9, "fail": True}])
    metrics = write_metrics(tmp_path / "metrics.json", PASSING[:1])
    result = cli(sweep_args(emu.url, tmp_path, inputs, metrics), tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "2 runs of the two instances did not succeed" in result.stdout
    (item,) = sdk_results(tmp_path / "out").metric_results or []
    assert item.passed is True
    for stats in (item.statistics.control, item.statistics.candidate):
        assert (stats.number_of_runs_total, stats.distribution_summary_statistics.count) == (9, 8)


def test_grid_values_pair_runs_by_input_and_grid_point(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "inputs", INPUTS[:3])
    metrics = write_metrics(tmp_path / "metrics.json", PASSING[:1])
    args = sweep_args(emu.url, tmp_path, inputs, metrics, "--grid", "seed=1,2")
    result = cli(args, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = judge_sweep(
        tmp_path / "out", parse_metrics(PASSING[:1]), control=CONTROL, candidate=CANDIDATE
    )
    pairs = verdict.pairs(0)
    assert [p.pair for p in pairs] == [f"in-0{i}/seed={s}" for i in range(3) for s in (1, 2)]
    assert [round(p.difference or 0, 9) for p in pairs] == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]


BAD = [
    ("not-a-list", {"field": "x"}, (), "expected a non-empty JSON list of metrics"),
    ("operator", [metric("x", "gte")], (), "params.operator 'gte' is unknown: one of"),
    ("statistic", [metric("x", "lt", statistic="median")], (), "statistic 'median' is unknown"),
    ("one-instance", PASSING, ("drop-candidate",), "give --instance-id twice"),
    ("three", PASSING, ("--instance-id", "third"), "got 3 distinct"),
    ("grid", PASSING, ("--grid", "instance_id=a,b"), "not --grid"),
]


@pytest.mark.parametrize(
    ("document", "extra", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_metrics_or_instances_exit_2_before_any_request(
    emu: ThreadedEmulator, tmp_path: Path, document: Any, extra: tuple[str, ...], message: str
) -> None:
    inputs = write_inputs(tmp_path / "inputs", INPUTS[:2])
    metrics = write_metrics(tmp_path / "metrics.json", document)
    args = sweep_args(emu.url, tmp_path, inputs, metrics, *extra)
    if extra == ("drop-candidate",):
        at = args.index(CANDIDATE)
        args = args[: at - 1] + args[at + 1 : -1]
    emu.reset_stats()
    result = cli(args, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert emu.stats()["requests"] == {}
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.db").exists()


def test_a_missing_metrics_file_exits_2(emu: ThreadedEmulator, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "inputs", INPUTS[:2])
    result = cli(sweep_args(emu.url, tmp_path, inputs, tmp_path / "nowhere.json"), tmp_path)
    assert result.returncode == 2
    assert "nowhere.json" in result.stderr and "No such file" in result.stderr


def test_report_draws_the_page_again_from_the_folder(
    passing_sweep: tuple[Path, Any], tmp_path: Path
) -> None:
    out = tmp_path / "copied-out"  # moved: result files are found from the keys, not the CSV
    shutil.copytree(passing_sweep[0], out)
    before = (out / "acceptance.json").read_text()
    (out / "report.html").unlink()
    again = cli(["report", str(out)], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (out / "acceptance.json").read_text() == before
    assert (out / "report.html").read_text().count("data-chart=") == 6
    assert again.stdout.count("│ pass") == 3

    strict = write_metrics(tmp_path / "strict.json", [metric("result.value", "lt")])
    judged = cli(
        ["report", str(out), "--metrics", str(strict), "--instance-id", CONTROL,
         "--instance-id", CANDIDATE],
        tmp_path,
    )  # fmt: skip
    assert judged.returncode == 1, judged.stdout + judged.stderr
    results = sdk_results(out)
    assert results.passed is False
    (item,) = results.metric_results or []
    assert item.statistics.control.version_id == "v1"  # kept from the verdict before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "{metrics}", "--instance-id", CONTROL, "--instance-id", "nope"],
         "has no run on instance 'nope'"),
        (["--instance-id", CONTROL], "--instance-id needs --metrics"),
    ],
)  # fmt: skip
def test_report_refuses_what_the_folder_cannot_answer(
    passing_sweep: tuple[Path, Any], tmp_path: Path, args: list[str], message: str
) -> None:
    metrics = write_metrics(tmp_path / "m.json", PASSING)
    args = [a.replace("{metrics}", str(metrics)) for a in args]
    result = cli(["report", str(passing_sweep[0]), *args], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_report_refuses_an_acceptance_json_whose_metric_is_not_valid(
    passing_sweep: tuple[Path, Any], tmp_path: Path
) -> None:
    """acceptance.json read back (an asyncrun.AcceptanceTestResults) is checked as --metrics
    is: a hand-edited operator stops `report` with exit 2, not a traceback."""
    out = tmp_path / "edited-out"
    shutil.copytree(passing_sweep[0], out)
    document = json.loads((out / "acceptance.json").read_text())
    document["metric_results"][1]["metric"]["params"]["operator"] = "approx"
    (out / "acceptance.json").write_text(json.dumps(document))
    result = cli(["report", str(out)], tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "acceptance.json': metrics[1]: params.operator 'approx' is unknown" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_of_a_folder_that_is_no_batch_exits_2(tmp_path: Path) -> None:
    result = cli(["report", str(tmp_path)], tmp_path)
    assert result.returncode == 2
    assert "holds no summary.csv" in result.stderr
    (tmp_path / "summary.csv").write_text("key,status\n")
    result = cli(["report", str(tmp_path)], tmp_path)
    assert result.returncode == 2
    assert "give --metrics FILE and two --instance-id" in result.stderr


def test_the_same_command_again_judges_again_without_new_runs(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """A resumed batch whose runs all finished before: no run is made, the verdict is the
    same, and the versions come from the verdict before (the runs' metadata is not read
    again)."""
    inputs = write_inputs(tmp_path / "inputs", INPUTS[:3])
    metrics = write_metrics(tmp_path / "metrics.json", PASSING[:1])
    args = sweep_args(emu.url, tmp_path, inputs, metrics)
    assert cli(args, tmp_path).returncode == 0
    before = json.loads((tmp_path / "out" / "acceptance.json").read_text())
    emu.reset_stats()
    again = cli(args, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not any(route.startswith("POST") for route in emu.stats()["requests"])
    assert json.loads((tmp_path / "out" / "acceptance.json").read_text()) == before
    control = before["metric_results"][0]["statistics"]["control"]
    assert (control["version_id"], control["number_of_runs_total"]) == ("v1", 3)


def test_no_verdict_while_result_files_are_missing_and_the_resume_gives_it(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """A verdict over the files that were written would judge fewer runs than the batch made:
    with a result file not written, the batch exits 1 without acceptance.json; the resume
    writes the file (no new run) and gives the verdict."""
    inputs = write_inputs(tmp_path / "inputs", INPUTS[:3])
    metrics = write_metrics(tmp_path / "metrics.json", PASSING[:1])
    args = sweep_args(emu.url, tmp_path, inputs, metrics)
    blocker = tmp_path / "out" / "results" / "in-01"  # a file where in-01's results go
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    first = cli(args, tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "no acceptance verdict: 2 result files were not written" in " ".join(
        first.stdout.split()
    )
    assert not (tmp_path / "out" / "acceptance.json").exists()
    blocker.unlink()
    emu.reset_stats()
    again = cli(args, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not any(route.startswith("POST") for route in emu.stats()["requests"])
    (item,) = sdk_results(tmp_path / "out").metric_results or []
    assert item.statistics.control.distribution_summary_statistics.count == 3
