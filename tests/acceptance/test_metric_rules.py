"""One rule for a valid metric (ACCEPTANCE_SPEC "A valid metric"), on all three sides: the same
good and bad metrics are given to the client's `new_acceptance_test`, to the `--metrics` file
reader and to the emulator's POST of an acceptance test, and every side accepts or refuses each
one alike, the refusal naming the metric's index."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import asyncrun
from asyncrun._metrics import check_metrics
from asyncrun.acceptance import judge, load_metrics
from asyncrun.emulator import EmulatorConfig, ThreadedEmulator, serve_in_thread
from asyncrun.errors import ConfigError
from tests.client.conftest import fast_client

APP = "agree-app"
KEY = "test-key"
ACCEPTANCE = f"/v1/applications/{APP}/experiments/acceptance"
DIRECT = {"field": "result.value", "metric_type": "direct-comparison"}
GT = {"operator": "gt"}

# (name, metric, valid): the same list for every side.
CASES: list[tuple[str, Any, bool]] = [
    (
        "full",
        {
            **DIRECT,
            "params": {"operator": "le", "tolerance": {"type": "relative", "value": 0.05}},
            "statistic": "p95",
        },
        True,
    ),
    ("no statistic, no tolerance", {**DIRECT, "params": GT}, True),
    ("null statistic and tolerance", {**DIRECT, "params": {**GT, "tolerance": None}}, True),
    ("empty tolerance", {**DIRECT, "params": {**GT, "tolerance": {}}}, True),
    ("null tolerance type", {**DIRECT, "params": {**GT, "tolerance": {"type": None}}}, True),
    ("no tolerance value", {**DIRECT, "params": {**GT, "tolerance": {"type": "absolute"}}}, True),
    (
        "type '' with a value",
        {**DIRECT, "params": {**GT, "tolerance": {"type": "", "value": 7}}},
        True,
    ),
    (
        "negative tolerance",
        {**DIRECT, "params": {"operator": "ge", "tolerance": {"type": "absolute", "value": -0.5}}},
        True,
    ),
    (
        "integer tolerance",
        {**DIRECT, "params": {**GT, "tolerance": {"type": "absolute", "value": 2}}},
        True,
    ),
    ("whitespace field", {**DIRECT, "field": " ", "params": GT}, True),
    ("other fields", {**DIRECT, "params": {**GT, "x": 1}, "note": "ignored"}, True),
    (
        "shifted geometric mean",
        {**DIRECT, "params": {"operator": "ne"}, "statistic": "shifted_geometric_mean"},
        True,
    ),
    ("not an object", "result.value", False),
    ("null metric", None, False),
    ("no field", {"metric_type": "direct-comparison", "params": GT}, False),
    ("empty field", {**DIRECT, "field": "", "params": GT}, False),
    ("field not a string", {**DIRECT, "field": 5, "params": GT}, False),
    ("no metric_type", {"field": "result.value", "params": GT}, False),
    ("unknown metric_type", {**DIRECT, "metric_type": "ratio", "params": GT}, False),
    ("null metric_type", {**DIRECT, "metric_type": None, "params": GT}, False),
    ("unknown statistic", {**DIRECT, "params": GT, "statistic": "median"}, False),
    ("empty statistic", {**DIRECT, "params": GT, "statistic": ""}, False),
    ("statistic in a list", {**DIRECT, "params": GT, "statistic": ["mean"]}, False),
    ("no params", DIRECT, False),
    ("params a string", {**DIRECT, "params": "gt"}, False),
    ("no operator", {**DIRECT, "params": {}}, False),
    ("unknown operator", {**DIRECT, "params": {"operator": "gte"}}, False),
    ("operator in a list", {**DIRECT, "params": {"operator": ["gt"]}}, False),
    ("tolerance a number", {**DIRECT, "params": {**GT, "tolerance": 0.1}}, False),
    ("unknown tolerance type", {**DIRECT, "params": {**GT, "tolerance": {"type": "pct"}}}, False),
    ("tolerance type false", {**DIRECT, "params": {**GT, "tolerance": {"type": False}}}, False),
    ("tolerance type 0", {**DIRECT, "params": {**GT, "tolerance": {"type": 0}}}, False),
    (
        "tolerance value a string",
        {**DIRECT, "params": {**GT, "tolerance": {"value": "0.1"}}},
        False,
    ),
    ("tolerance value true", {**DIRECT, "params": {**GT, "tolerance": {"value": True}}}, False),
    ("tolerance value null", {**DIRECT, "params": {**GT, "tolerance": {"value": None}}}, False),
    ("tolerance value NaN", {**DIRECT, "params": {**GT, "tolerance": {"value": math.nan}}}, False),
]
NAMES = [name for name, _, _ in CASES]


def test_the_cases_cover_both_verdicts() -> None:
    assert {valid for _, _, valid in CASES} == {True, False}
    assert len(set(NAMES)) == len(NAMES)


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    """An emulator with an auto-created app: one run on "control", in the input set "xs"."""
    with serve_in_thread(EmulatorConfig(api_key=KEY, time_scale=50.0)) as running:
        asyncio.run(_input_set(running.url))
        yield running


async def _input_set(url: str) -> None:
    async with fast_client(url) as client:
        app = client.application(APP)
        run_id = await app.new_run(input={"x": 1}, instance_id="control")
        await app.new_input_set(id="xs", run_ids=[run_id])


def _api(url: str, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    return requests.request(method, f"{url}{path}", data=data, headers=headers, timeout=30)


def _by_client(url: str, metric: Any, test_id: str) -> str | asyncrun.Metric:
    """The metric of the test the client made (as the server answers it), or the client's
    refusal (then nothing was sent)."""

    async def create() -> str | asyncrun.Metric:
        async with fast_client(url) as client:
            app = client.application(APP)
            try:
                test = await app.new_acceptance_test(
                    "candidate", "control", [metric], id=test_id, input_set_id="xs"
                )
            except ConfigError as exc:
                return str(exc)
            assert test.metrics is not None
            return test.metrics[0]

    return asyncio.run(create())


def _by_file(tmp_path: Path, metric: Any) -> str | asyncrun.Metric:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps([metric]), encoding="utf-8")
    try:
        (loaded,) = load_metrics(path)
    except ConfigError as exc:
        return str(exc)
    return loaded


def _by_emulator(url: str, metric: Any, test_id: str) -> str | dict[str, Any]:
    """The metric as the emulator stored it, or its 400's message."""
    asyncio.run(_experiment(url, test_id))
    body = {
        "id": test_id,
        "experiment_id": test_id,
        "control": {"instance_id": "control"},
        "candidate": {"instance_id": "candidate"},
        "metrics": [metric],
    }
    answer = _api(url, "POST", ACCEPTANCE, body)
    if answer.status_code == 400:
        return str(answer.json()["error"])
    assert answer.status_code == 200, answer.text
    stored: dict[str, Any] = answer.json()["metrics"][0]
    return stored


async def _experiment(url: str, experiment_id: str) -> None:
    async with fast_client(url) as client:
        app = client.application(APP)
        xs = await app.input_set("xs")
        runs = asyncrun.experiments.to_runs(["candidate", "control"], xs)
        await app.new_batch_experiment(id=experiment_id, runs=runs)


def _core(metric: asyncrun.Metric | dict[str, Any]) -> dict[str, Any]:
    """What decides the verdict, in JSON form."""
    doc = metric.to_dict() if isinstance(metric, asyncrun.Metric) else metric
    tolerance = doc["params"]["tolerance"]
    return {
        "field": doc["field"],
        "metric_type": doc["metric_type"],
        "statistic": doc["statistic"],
        "operator": doc["params"]["operator"],
        "tolerance": (tolerance["type"], float(tolerance["value"])),
    }


@pytest.mark.parametrize(("name", "metric", "valid"), CASES, ids=NAMES)
def test_the_client_the_metrics_file_and_the_emulator_agree(
    emu: ThreadedEmulator, tmp_path: Path, name: str, metric: Any, valid: bool
) -> None:
    test_id = f"m{NAMES.index(name)}"
    client = _by_client(emu.url, metric, f"{test_id}-client")
    from_file = _by_file(tmp_path, metric)
    emulator = _by_emulator(emu.url, metric, f"{test_id}-emu")
    outcomes = [not isinstance(side, str) for side in (client, from_file, emulator)]
    assert outcomes == [valid] * 3, (client, from_file, emulator)
    if not valid:
        for refusal in (client, from_file, emulator):
            assert isinstance(refusal, str) and "metrics[0]" in refusal and "\n" not in refusal
        # Refused before any request: the client made no batch experiment either.
        missing = _api(emu.url, "GET", f"/v1/applications/{APP}/experiments/batch/{test_id}-client")
        assert missing.status_code == 404
        return
    assert not isinstance(client, str) and not isinstance(from_file, str)
    assert not isinstance(emulator, str)
    assert _core(client) == _core(from_file) == _core(emulator)


def test_a_list_of_metrics_goes_to_the_client_and_the_file_alike(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """A user's `asyncrun.Metric` list: sent by new_acceptance_test, written as the --metrics
    file, judged by the verdict; all the valid cases at once."""
    metrics = [asyncrun.Metric.model_validate(m) for _, m, valid in CASES if valid]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps([m.to_dict() for m in metrics]), encoding="utf-8")
    assert [_core(m) for m in load_metrics(path)] == [_core(m) for m in metrics]

    async def create() -> list[asyncrun.Metric]:
        async with fast_client(emu.url) as client:
            test = await client.application(APP).new_acceptance_test(
                "candidate", "control", metrics, id="all-good", input_set_id="xs"
            )
            return list(test.metrics or [])

    assert [_core(m) for m in asyncio.run(create())] == [_core(m) for m in metrics]
    results = judge(metrics, [], control="control", candidate="candidate")
    assert isinstance(results, asyncrun.AcceptanceTestResults)
    assert [r.metric for r in results.metric_results or []] == metrics


@pytest.mark.parametrize(
    "document", [[], {"metrics": []}, "metrics"], ids=["empty", "object", "string"]
)
def test_a_list_that_is_not_one_is_refused_everywhere(
    emu: ThreadedEmulator, tmp_path: Path, document: Any
) -> None:
    client = _by_client_list(emu.url, document)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match="non-empty") as from_file:
        load_metrics(path)
    body = {"id": "x", "experiment_id": "x", "metrics": document}
    answer = _api(emu.url, "POST", ACCEPTANCE, body)
    assert answer.status_code == 400 and "non-empty" in answer.json()["error"]
    assert "non-empty" in client and "\n" not in str(from_file.value)


def _by_client_list(url: str, metrics: Any) -> str:
    async def create() -> str:
        async with fast_client(url) as client:
            with pytest.raises(ConfigError) as refused:
                await client.application(APP).new_acceptance_test(
                    "candidate", "control", metrics, id="refused", input_set_id="xs"
                )
            return str(refused.value)

    return asyncio.run(create())


def test_a_metric_model_is_checked_as_the_json_it_is_sent_as() -> None:
    """The models read answers leniently (an unknown operator stays a string), so a Metric a
    user builds is checked in its JSON form, by the same rules as a dict."""
    lenient = asyncrun.Metric(field="x", params=asyncrun.MetricParams(operator="approx"))
    assert lenient.params.operator == "approx"
    with pytest.raises(ConfigError, match=r"metrics\[1\]: params.operator 'approx' is unknown"):
        check_metrics(
            [asyncrun.Metric(field="x", params=asyncrun.MetricParams(operator="ge")), lenient]
        )
    with pytest.raises(ConfigError, match=r"metrics\[0\]: params.operator 'approx'"):
        judge([lenient], [], control="a", candidate="b")
    # Defaults the SDK would require a user to spell out: metric_type, statistic, tolerance.
    (made,) = check_metrics(
        [asyncrun.Metric(field="x", params=asyncrun.MetricParams(operator="ge"))]
    )
    assert made.to_dict() == {
        "field": "x",
        "metric_type": "direct-comparison",
        "params": {"operator": "ge", "tolerance": {"type": "", "value": 0.0}},
        "statistic": "mean",
    }
