"""Every mistake with a known rule is refused with a ConfigError before any request is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import asyncrun
from asyncrun import ConfigError
from tests.client.conftest import fast_client
from tests.client.scripted_server import ScriptedServer

from . import payloads as p

Call = Callable[[asyncrun.AsyncApplication], Awaitable[Any]]


def metric(**changes: Any) -> dict[str, Any]:
    params = {**p.METRIC["params"], **changes.pop("params", {})}
    return {**p.METRIC, "params": params, **changes}


def scenario(**changes: Any) -> dict[str, Any]:
    base = {
        "instance_id": "inst-a",
        "scenario_input": {"scenario_input_type": "input_set", "scenario_input_data": "is-1"},
    }
    return {**base, **changes}


T0 = datetime(2024, 2, 1, tzinfo=UTC)
T1 = datetime(2024, 1, 1, tzinfo=UTC)
BAD_ID = "a\nb"
RUN = [{"input_id": "i", "instance_id": "x"}]

REFUSED: list[tuple[str, Call, str]] = [
    ("input set id", lambda a: a.new_input_set(id=BAD_ID, run_ids=["r"]), "invalid input set id"),
    (
        "start after end",
        lambda a: a.new_input_set(instance_id="i", start_time=T0, end_time=T1),
        "start_time 2024-02-01T00:00:00\\+00:00 is after end_time",
    ),
    (
        "input set without a source",
        lambda a: a.new_input_set(id="s", maximum_runs=3),
        "give run_ids, inputs, or an instance's runs",
    ),
    ("new id", lambda a: a.new_batch_experiment(id="my batch", runs=RUN), "1-100 letters"),
    ("maximum_runs 0", lambda a: a.new_input_set(maximum_runs=0), "maximum_runs must be"),
    ("maximum_runs bool", lambda a: a.new_input_set(maximum_runs=True), "maximum_runs must be"),
    (
        "time not datetime",
        lambda a: a.new_input_set(start_time="2024"),  # type: ignore[arg-type]
        "must be a datetime",
    ),
    ("empty run_ids", lambda a: a.new_input_set(run_ids=[]), "non-empty list of run ids"),
    (
        "run_ids a string",
        lambda a: a.new_input_set(run_ids="run-1"),  # type: ignore[arg-type]
        "non-empty list of run ids",
    ),
    ("blank run id", lambda a: a.new_input_set(run_ids=["r", ""]), "invalid run id ''"),
    ("empty inputs", lambda a: a.new_input_set(inputs=[]), "non-empty list of managed inputs"),
    ("input without id", lambda a: a.new_input_set(inputs=[{"name": "x"}]), "inputs\\[0\\]"),
    ("bad input id", lambda a: a.new_input_set(inputs=[{"id": "a b"}]), "managed input id"),
    ("get input set", lambda a: a.input_set(""), "invalid input set id"),
    ("delete input set", lambda a: a.delete_input_set("x\x00"), "invalid input set id"),
    ("empty runs", lambda a: a.new_batch_experiment(runs=[]), "non-empty list"),
    (
        "run without instance or version",
        lambda a: a.new_batch_experiment(runs=[{"input_id": "i"}]),
        "either instance_id or version_id",
    ),
    (
        "undefined option set",
        lambda a: a.new_batch_experiment(
            runs=[{"input_id": "i", "instance_id": "x", "option_set": "fast"}]
        ),
        "option set 'fast', which option_sets does not define",
    ),
    (
        "option value not a string",
        lambda a: a.new_batch_experiment(option_sets={"fast": {"duration": 1}}),  # type: ignore[dict-item]
        "dict of strings to strings",
    ),
    ("content type", lambda a: a.new_batch_experiment(content_type="xml"), "unknown content_type"),
    ("batch id", lambda a: a.batch_experiment("\t"), "invalid batch experiment id"),
    ("update nothing", lambda a: a.update_batch_experiment("b-1"), "name or a description"),
    (
        "polling options",
        lambda a: a.batch_experiment_with_polling("b-1", {"max_tries": 1}),  # type: ignore[arg-type]
        "must be an asyncrun.PollingOptions",
    ),
    ("no metric", lambda a: a.new_acceptance_test("c", "b", [], id="b-1"), "non-empty list"),
    (
        "unknown operator",
        lambda a: a.new_acceptance_test("c", "b", [metric(params={"operator": "lte"})], id="x"),
        "metrics\\[0\\]: params.operator 'lte' is unknown",
    ),
    (
        "unknown statistic",
        lambda a: a.new_acceptance_test("c", "b", [metric(statistic="median")], id="x"),
        "metrics\\[0\\]: statistic 'median' is unknown",
    ),
    (
        "unknown metric type",
        lambda a: a.new_acceptance_test("c", "b", [metric(metric_type="ratio")], id="x"),
        "metrics\\[0\\]: metric_type 'ratio' is wrong: expected 'direct-comparison'",
    ),
    (
        "unknown tolerance type",
        lambda a: a.new_acceptance_test(
            "c", "b", [metric(params={"tolerance": {"type": "percent", "value": 1}})], id="x"
        ),
        "params.tolerance.type 'percent' is unknown",
    ),
    (
        "tolerance not finite",
        lambda a: a.new_acceptance_test(
            "c", "b", [metric(params={"tolerance": {"type": "absolute", "value": None}})], id="x"
        ),
        "params.tolerance.value is None: expected a finite number",
    ),
    (
        "empty field",
        lambda a: a.new_acceptance_test("c", "b", [metric(field="")], id="x"),
        "metrics\\[0\\]: field '' is wrong",
    ),
    (
        "metric without params",
        lambda a: a.new_acceptance_test(
            "c", "b", [{"field": "a", "metric_type": "direct-comparison"}], id="x"
        ),
        "metrics\\[0\\]: params is missing: expected an object with an operator",
    ),
    (
        "neither input set nor experiment",
        lambda a: a.new_acceptance_test("c", "b", [p.METRIC]),
        "give input_set_id",
    ),
    ("candidate id", lambda a: a.new_acceptance_test("", "b", [p.METRIC], id="x"), "candidate"),
    ("update test nothing", lambda a: a.update_acceptance_test("at-1", name=""), "name or a"),
    ("no scenario", lambda a: a.new_scenario_test([]), "non-empty list"),
    (
        "duplicate scenario id",
        lambda a: a.new_scenario_test([scenario(scenario_id="s"), scenario(scenario_id="s")]),
        "duplicate scenario id 's'",
    ),
    (
        "negative repetitions",
        lambda a: a.new_scenario_test([scenario()], repetitions=-1),
        "repetitions must be",
    ),
    (
        "input set data not an id",
        lambda a: a.new_scenario_test(
            [
                scenario(
                    scenario_input={"scenario_input_type": "input_set", "scenario_input_data": []}
                )
            ]
        ),
        "must be the input set id",
    ),
    (
        "bad managed input id in a scenario",
        lambda a: a.new_scenario_test(
            [
                scenario(
                    scenario_input={"scenario_input_type": "input", "scenario_input_data": ["a b"]}
                )
            ]
        ),
        "invalid managed input id 'a b'",
    ),
    (
        "no configuration values",
        lambda a: a.new_scenario_test([scenario(configuration=[{"name": "x", "values": []}])]),
        "values must be non-empty",
    ),
    (
        "scenario content type",
        lambda a: a.new_scenario_test([scenario()], content_type="yaml"),
        "unknown content_type",
    ),
]


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        yield s


@pytest.mark.parametrize(("call", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_refused_before_any_request(server: ScriptedServer, call: Call, message: str) -> None:
    async with fast_client(server.url) as client:
        with pytest.raises(ConfigError, match=message):
            await call(client.application(p.APP))
    assert server.requests == []


async def test_acceptance_on_a_missing_experiment_says_what_to_give(server: ScriptedServer) -> None:
    """Without an input set the named batch experiment must exist: a 404 on it becomes a
    ConfigError saying to give input_set_id, and nothing is created."""
    async with fast_client(server.url) as client:
        with pytest.raises(ConfigError, match="'b-9' does not exist: give input_set_id"):
            await client.application(p.APP).new_acceptance_test("c", "b", [p.METRIC], id="b-9")
    assert [(r.method, r.path) for r in server.requests] == [("GET", f"{p.EXP}/batch/b-9/metadata")]
