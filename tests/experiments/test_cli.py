"""`asyncrun input-set ...` and `asyncrun experiment batch|acceptance|scenario ...` end to end
(in-process main()) against the emulator running the experiments for real."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nextmv import cloud

from asyncrun.cli import main
from asyncrun.emulator import ThreadedEmulator

from .support import KEY, scaler_with_control_runs


def metric(operator: str, statistic: str = "mean", tolerance: float = 0.0) -> dict[str, Any]:
    return {
        "field": "result.value",
        "metric_type": "direct-comparison",
        "params": {"operator": operator, "tolerance": {"type": "absolute", "value": tolerance}},
        "statistic": statistic,
    }


class Cli:
    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([*args, "--app-id", "scale-app", "--url", self.url, "--limits", "unlimited"])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(
    emu: ThreadedEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    monkeypatch.setenv("NEXTMV_API_KEY", KEY)
    monkeypatch.delenv("NEXTMV_ENDPOINT", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(emu.url, capsys)


@pytest.fixture
def run_ids(client: cloud.Client, tmp_path: Path) -> list[str]:
    """The scaler app (control: value = x; candidate: 2x + 1) and five control runs."""
    return scaler_with_control_runs(client, tmp_path)[1]


@pytest.fixture
def xs(cli: Cli, run_ids: list[str]) -> Iterator[str]:
    flags = [arg for run_id in run_ids for arg in ("--run-ids", run_id)]
    made = cli.json("input-set", "create", "--input-set-id", "xs", "--name", "Xs", *flags)
    assert made["id"] == "xs" and len(made["input_ids"]) == 5
    yield "xs"


def experiment_requests(emu: ThreadedEmulator) -> int:
    return sum(
        sum(counts.values())
        for route, counts in emu.stats()["requests"].items()
        if "/experiments" in route
    )


def test_input_set_commands(cli: Cli, xs: str, emu: ThreadedEmulator) -> None:
    code, out, _ = cli("input-set", "get", "--input-set-id", xs)
    assert code == 0 and "input set xs" in out and "Xs" in out
    window = cli.json(
        "input-set", "create", "-s", "window", "-i", "control", "-m", "2",
        "--start-time", "2000-01-01T00:00:00Z", "--end-time", "2100-01-01T00:00:00Z",
    )  # fmt: skip
    assert len(window["input_ids"]) == 2
    managed = json.dumps([{"id": window["input_ids"][0]}])
    from_managed = cli.json("input-set", "create", "-s", "one", "--managed-inputs", managed)
    assert [i["id"] for i in from_managed["inputs"]] == window["input_ids"][:1]
    assert sorted(s["id"] for s in cli.json("input-set", "list")) == ["one", "window", "xs"]
    code, out, _ = cli("input-set", "list")
    assert code == 0 and "input sets (3)" in out
    updated = cli.json("input-set", "update", "-s", "window", "--name", "Two newest")
    assert updated["name"] == "Two newest"
    code, _, err = cli("input-set", "delete", "-s", "window", "--yes")
    assert code == 0 and "deleted input set window" in err
    code, _, err = cli("input-set", "get", "-s", "window")
    assert code == 1 and "input set 'window' not found" in err


def test_batch_experiment_commands(
    cli: Cli, xs: str, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    inputs = cli.json("input-set", "get", "-s", xs)["input_ids"]
    runs = [{"input_id": i, "instance_id": "candidate"} for i in inputs]
    one = {"input_id": inputs[0], "instance_id": "control", "option_set": "big"}
    out_file = tmp_path / "batch.json"
    code, out, err = cli(
        "experiment", "batch", "create", "-b", "scales", "-n", "Scales",
        "--runs", json.dumps(runs), "--runs", json.dumps(one),
        "--option-sets", '{"big": {"scale": "100"}}', "--wait", "--output", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert "batch scales" in out and "completed" in out and "6 of 6 completed" in out
    written = json.loads(out_file.read_text())
    assert written["status"] == "completed" and len(written["runs"]) == 6
    assert {r["application_instance_id"] for r in written["runs"]} == {"candidate", "control"}
    got = cli.json("experiment", "batch", "get", "-b", "scales")
    assert got["number_of_runs"] == 6 and len(got["runs"]) == 6
    assert [b["id"] for b in cli.json("experiment", "batch", "list")] == ["scales"]
    assert (
        cli.json("experiment", "batch", "update", "-b", "scales", "-d", "six")["description"]
        == "six"
    )
    pair = cli.json(
        "experiment", "batch", "create", "-b", "pair", "-i", xs,
        "--instance-id", "control", "--instance-id", "candidate", "--wait",
    )  # fmt: skip
    assert pair["number_of_runs"] == 10 and sorted(pair["instance_ids"]) == ["candidate", "control"]
    code, _, err = cli("experiment", "batch", "delete", "-b", "pair")
    started = cli.json(
        "experiment", "batch", "create", "-b", "later", "-i", xs, "--instance-id", "control"
    )
    assert started["id"] == "later" and started["number_of_runs"] == 5  # not waited for
    done = cli.json("experiment", "batch", "get", "-b", "later", "--wait")
    assert done["status"] == "completed" and len(done["runs"]) == 5
    listed = cli.json("experiment", "batch", "list", "--no-pagination")
    assert sorted(b["id"] for b in listed) == ["later", "scales"]
    code, _, err = cli("experiment", "batch", "delete", "-b", "scales", "-y")
    assert code == 0 and "deleted batch experiment scales" in err
    assert [b["id"] for b in cli.json("experiment", "batch", "list")] == ["later"]


def test_acceptance_create_waits_and_gates(cli: Cli, xs: str) -> None:
    """A passing test exits 0, a failing one 1 (a CI gate), with the verdict per metric."""
    code, out, err = cli(
        "experiment", "acceptance", "create", "-t", "gate-ok", "-c", "candidate",
        "-b", "control", "-i", xs, "--metrics", json.dumps([metric("gt"), metric("ge", "p50")]),
        "--wait",
    )  # fmt: skip
    assert code == 0, err
    assert "acceptance test gate-ok" in out and "2 of 2 metrics pass" in out
    code, out, err = cli(
        "experiment", "acceptance", "create", "-t", "gate-bad", "-c", "candidate",
        "-b", "control", "-i", xs, "-m", json.dumps(metric("gt")),
        "-m", json.dumps(metric("lt", "mean", 1.0)), "--wait", "--json",
    )  # fmt: skip
    assert code == 1, err
    test = json.loads(out)
    assert test["status"] == "completed" and test["results"]["passed"] is False
    assert [m["passed"] for m in test["results"]["metric_results"]] == [True, False]
    control = test["results"]["metric_results"][1]["statistics"]["control"]
    assert control["distribution_summary_statistics"]["mean"] == 4.0
    code, out, _ = cli("experiment", "acceptance", "get", "-t", "gate-bad")
    assert code == 0 and "FAIL" in out and "1 of 2 metrics pass" in out
    code, out, _ = cli("experiment", "acceptance", "list")
    assert code == 0 and "gate-ok" in out and "gate-bad" in out
    code, _, err = cli("experiment", "acceptance", "delete", "-t", "gate-ok")
    assert code == 0
    assert [t["id"] for t in cli.json("experiment", "acceptance", "list")] == ["gate-bad"]


def test_scenario_create_waits(cli: Cli, xs: str) -> None:
    scenario = {
        "instance_id": "control",
        "scenario_input": {"scenario_input_type": "input_set", "scenario_input_data": xs},
        "configuration": [{"name": "scale", "values": ["1", "3"]}],
    }
    test = cli.json(
        "experiment", "scenario", "create", "-i", "grid", "-s", json.dumps(scenario),
        "--repetitions", "1", "--wait",
    )  # fmt: skip
    assert test["type"] == "scenario" and test["status"] == "completed"
    assert len(test["runs"]) == 2 * 5 * 2
    code, out, _ = cli("experiment", "scenario", "get", "-i", "grid")
    assert code == 0 and "scenario grid" in out and "20 of 20 completed" in out
    assert [t["id"] for t in cli.json("experiment", "scenario", "list")] == ["grid"]
    assert cli.json("experiment", "batch", "list") == []
    code, _, _ = cli("experiment", "scenario", "delete", "-i", "grid")
    assert code == 0


ACCEPT = ["experiment", "acceptance", "create", "-c", "a", "-b", "b", "-t", "x", "-m"]
RUN = '{"input_id": "i", "instance_id": "x"}'
FEB, JAN = "2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*ACCEPT, "{"], "not valid JSON"),
        ([*ACCEPT, json.dumps(metric("lte"))], "params.operator 'lte' is unknown"),
        ([*ACCEPT, "[]"], "non-empty list"),
        (["experiment", "batch", "create", "--runs", "[1, 2]"], "--runs: expected JSON objects"),
        (["experiment", "batch", "create", "--runs", RUN, "--timeout", "0"], "--timeout must be"),
        (["experiment", "batch", "create", "--runs", RUN, "--timeout", "nan"], "--timeout must"),
        (["experiment", "batch", "get", "-b", "b", "--output", "/"], "--output '/' is a directory"),
        (["experiment", "batch", "create", "--instance-id", "x"], "give --input-set-id"),
        (["experiment", "batch", "create", "-i", "xs"], "give --runs, or --instance-id"),
        (["input-set", "create", "--run-ids", "r", "--start-time", "yesterday"], "RFC 3339"),
        (["input-set", "create", "--start-time", FEB, "--end-time", JAN], "is after end_time"),
        (["experiment", "scenario", "create", "-s", "{}"], "scenarios\\[0\\] is not a Scenario"),
        (["experiment", "scenario", "create", "-s", "[]"], "non-empty list"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(
    cli: Cli, emu: ThreadedEmulator, args: list[str], message: str
) -> None:
    code, _, err = cli(*args)
    assert code == 2
    assert re.search(message, err), err
    assert experiment_requests(emu) == 0
