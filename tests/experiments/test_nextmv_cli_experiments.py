"""The official Nextmv CLI (nextmv 1.13.0) creates an input set, a batch experiment and an
acceptance test on the emulator over HTTPS, waits for them, and gets results computed from real
runs of a pushed app (control: x, candidate: 2x + 1). See tests/emulator/test_nextmv_cli.py for
how the CLI is pointed at the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncrun.emulator import ThreadedEmulator
from tests.nextmv_cli import NextmvCLI, configured_cli

from .support import KEY, scaler_app

APP = "cli-exp"
XS = [1, 2, 3, 4, 10]
CLI_TIMEOUT = 180


@pytest.fixture
def cli(tls_emulator: ThreadedEmulator, tmp_path: Path) -> NextmvCLI:
    """The CLI configured for the emulator, with the scaler app pushed and two instances."""
    nextmv = configured_cli(tls_emulator, tmp_path, key=KEY, timeout=CLI_TIMEOUT)
    app = ["--app-id", APP]
    nextmv.ok("cloud", "app", "create", *app)
    nextmv.ok("cloud", "app", "push", *app, "--app-dir", str(scaler_app(tmp_path / "scaler")))
    nextmv.ok("cloud", "version", "create", *app, "--version-id", "v1")
    for instance, options in (("control", ["scale=1"]), ("candidate", ["scale=2", "offset=1"])):
        flags = [f for option in options for f in ("--options", option)]
        nextmv.ok(
            "cloud", "instance", "create", *app, "--instance-id", instance,
            "--version-id", "v1", *flags,
        )  # fmt: skip
    return nextmv


def input_set(cli: NextmvCLI, tmp_path: Path) -> dict[str, Any]:
    run_ids = []
    for x in XS:
        (tmp_path / f"in{x}.json").write_text(json.dumps({"x": x}))
        made = cli.json(
            "cloud", "run", "create", "--app-id", APP, "--instance-id", "control",
            "--input", f"in{x}.json",
        )  # fmt: skip
        run_ids.append(made["run_id"])
    flags = [f for run_id in run_ids for f in ("--run-ids", run_id)]
    made_set: dict[str, Any] = cli.json(
        "cloud", "input-set", "create", "--app-id", APP, "--input-set-id", "xs", *flags
    )
    assert len(made_set["input_ids"]) == 5
    return made_set


@pytest.mark.slow
def test_the_official_cli_runs_a_batch_experiment(cli: NextmvCLI, tmp_path: Path) -> None:
    inputs = input_set(cli, tmp_path)
    runs = [
        {"input_id": input_id, "instance_id": instance}
        for instance in ("control", "candidate")
        for input_id in inputs["input_ids"]
    ]
    cli.ok(
        "cloud", "batch", "create", "--app-id", APP, "--batch-experiment-id", "cli-batch",
        "--input-set-id", "xs", "--runs", json.dumps(runs), "--output", "batch.json",
    )  # fmt: skip
    batch = json.loads((tmp_path / "batch.json").read_text())
    assert batch["status"] == "completed" and batch["number_of_runs"] == 10
    assert len(batch["runs"]) == 10
    means = {
        g["group_values"][0]: g["indicator_distributions"]["result.value"]["mean"]
        for g in batch["grouped_distributional_summaries"]
        if g["group_keys"] == ["instanceID", "versionID"]
    }
    assert means == {"control": 4.0, "candidate": 9.0}
    listed = cli.json("cloud", "batch", "list", "--app-id", APP)
    assert [b["id"] for b in listed] == ["cli-batch"]


@pytest.mark.slow
def test_the_official_cli_runs_an_acceptance_test(cli: NextmvCLI, tmp_path: Path) -> None:
    input_set(cli, tmp_path)
    metrics = [
        {
            "field": "result.value",
            "metric_type": "direct-comparison",
            "params": {"operator": "gt", "tolerance": {"type": "absolute", "value": 0}},
            "statistic": "mean",
        },
        {
            "field": "result.value",
            "metric_type": "direct-comparison",
            "params": {"operator": "le", "tolerance": {"type": "relative", "value": 0.5}},
            "statistic": "p95",
        },
    ]
    cli.ok(
        "cloud", "acceptance", "create", "--app-id", APP, "--acceptance-test-id", "cli-acc",
        "--candidate-instance-id", "candidate", "--baseline-instance-id", "control",
        "--input-set-id", "xs", "--metrics", json.dumps(metrics), "--output", "acc.json",
    )  # fmt: skip
    test = json.loads((tmp_path / "acc.json").read_text())
    assert test["status"] == "completed"
    results = test["results"]
    # mean 9 > 4 passes; p95 of candidate 18.6 <= 8.8 + 0.5 * 8.8 = 13.2 fails.
    assert [m["passed"] for m in results["metric_results"]] == [True, False]
    assert results["passed"] is False
    p95 = results["metric_results"][1]["statistics"]
    assert p95["control"]["distribution_percentiles"]["p95"] == pytest.approx(8.8)
    assert p95["candidate"]["distribution_percentiles"]["p95"] == pytest.approx(18.6)
    got = cli.json("cloud", "acceptance", "get", "--app-id", APP, "--acceptance-test-id", "cli-acc")
    assert got["results"] == results
