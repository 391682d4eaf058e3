"""Same call, same wire: every experiment call of asyncrun sends what the official SDK sends for
it (method, path, query, JSON body, in order), and reads the answer into the same values."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import nextmv
import pytest
from nextmv import cloud

import asyncrun
from asyncrun import experiments as ex
from tests.client.scripted_server import ScriptedServer

from . import payloads as p
from .wire_support import both, script_all

SDK_POLL = nextmv.PollingOptions(initial_delay=0, delay=0, backoff=0, jitter=0, max_tries=5)
OUR_POLL = asyncrun.PollingOptions(initial_delay=0, delay=0, backoff=0, jitter=0, max_tries=5)
START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC)
RUNS = [
    {"input_id": "inp_111", "instance_id": "inst-a", "option_set": "fast"},
    {"input_id": "inp_111", "version_id": "v2", "input_set_id": "is-1"},
]
OPTION_SETS = {"fast": {"solve.duration": "1s"}}

Sdk = Callable[[cloud.Application], Any]
Ours = Callable[[asyncrun.AsyncApplication], Awaitable[Any]]


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        yield script_all(s)


async def same_wire(
    server: ScriptedServer, sdk: Sdk, ours: Ours, *, reread: bool = False
) -> tuple[Any, Any]:
    """`reread`: the SDK reads the final acceptance test once more after polling saw it final;
    asyncrun returns the answer it polled (one request less, the same body)."""
    sdk_requests, our_requests, sdk_value, our_value = await both(server, sdk, ours)
    if reread:
        assert sdk_requests[-1] == sdk_requests[-2]
        sdk_requests = sdk_requests[:-1]
    assert our_requests == sdk_requests
    assert sdk_requests  # the call did send something
    return sdk_value, our_value


def dumped(value: Any) -> Any:
    if isinstance(value, list):
        return [dumped(v) for v in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def covers(ours: Any, sdk: Any) -> bool:
    """Ours holds every value the SDK's holds (ours keeps unknown fields too)."""
    if isinstance(sdk, dict):
        return isinstance(ours, dict) and all(covers(ours.get(k), v) for k, v in sdk.items())
    if isinstance(sdk, list):
        return (
            isinstance(ours, list)
            and len(ours) == len(sdk)
            and all(covers(o, s) for o, s in zip(ours, sdk, strict=True))
        )
    return bool(ours == sdk)


def alike(name: str, call: Callable[[Any], Any]) -> tuple[str, Sdk, Ours]:
    """A case whose call is written the same for the SDK and for asyncrun."""
    return (name, call, call)


def polled(name: str, call: Callable[[Any, Any], Any]) -> tuple[str, Sdk, Ours]:
    """A case that differs only in the polling options (each library's own class)."""
    return (name, lambda a: call(a, SDK_POLL), lambda a: call(a, OUR_POLL))


REREAD = {"acceptance test with polling", "new acceptance test with result"}
CASES: list[tuple[str, Sdk, Ours]] = [
    alike(
        "input set from runs",
        lambda a: a.new_input_set(id="is-1", name="n", description="d", run_ids=["r1", "r2"]),
    ),
    alike(
        "input set from an instance's runs in a window",
        lambda a: a.new_input_set(
            instance_id="inst-a", start_time=START, end_time=END, maximum_runs=5, id="is-1"
        ),
    ),
    (
        "input set from managed inputs",
        lambda a: a.new_input_set(
            id="is-2", inputs=[cloud.ManagedInput(id="mi-1"), cloud.ManagedInput(id="mi-2")]
        ),
        lambda a: a.new_input_set(
            id="is-2", inputs=[asyncrun.ManagedInput(id="mi-1"), {"id": "mi-2"}]
        ),
    ),
    alike("input set", lambda a: a.input_set("is-1")),
    alike("list input sets", lambda a: a.list_input_sets()),
    alike("update input set", lambda a: a.update_input_set("is-2", name="nn", description="dd")),
    alike("delete input set", lambda a: a.delete_input_set("is-1")),
    (
        "new batch experiment",
        lambda a: a.new_batch_experiment(
            name="b",
            input_set_id="is-1",
            description="d",
            id="b-1",
            option_sets=OPTION_SETS,
            runs=[cloud.BatchExperimentRun(**RUNS[0]), RUNS[1]],
            content_type="json",
        ),
        lambda a: a.new_batch_experiment(
            name="b",
            input_set_id="is-1",
            description="d",
            id="b-1",
            option_sets=OPTION_SETS,
            runs=[ex.BatchExperimentRun.model_validate(RUNS[0]), RUNS[1]],
            content_type="json",
        ),
    ),
    alike("batch experiment", lambda a: a.batch_experiment("b-1")),
    alike("batch experiment metadata", lambda a: a.batch_experiment_metadata("b-1")),
    polled(
        "batch experiment with polling",
        lambda a, poll: a.batch_experiment_with_polling("b-1", polling_options=poll),
    ),
    polled(
        "new batch experiment with result",
        lambda a, poll: a.new_batch_experiment_with_result(
            id="b-1", runs=RUNS[:1], option_sets=OPTION_SETS, polling_options=poll
        ),
    ),
    alike("list batch experiments", lambda a: a.list_batch_experiments()),
    alike(
        "update batch experiment",
        lambda a: a.update_batch_experiment("b-1", name="x", description="y"),
    ),
    alike("delete batch experiment", lambda a: a.delete_batch_experiment("b-1")),
    (
        "new acceptance test on an input set",
        lambda a: a.new_acceptance_test(
            "inst-b",
            "inst-a",
            [cloud.Metric.from_dict(p.METRIC)],
            id="b-1",
            input_set_id="is-1",
            description="d",
        ),
        lambda a: a.new_acceptance_test(
            "inst-b",
            "inst-a",
            [ex.Metric.model_validate(p.METRIC)],
            id="b-1",
            input_set_id="is-1",
            description="d",
        ),
    ),
    alike("acceptance test", lambda a: a.acceptance_test("at-1")),
    polled(
        "new acceptance test with result",
        lambda a, poll: a.new_acceptance_test_with_result(
            "inst-b", "inst-a", [p.METRIC], id="b-1", input_set_id="is-2", polling_options=poll
        ),
    ),
    polled(
        "acceptance test with polling",
        lambda a, poll: a.acceptance_test_with_polling("at-1", polling_options=poll),
    ),
    alike("list acceptance tests", lambda a: a.list_acceptance_tests()),
    alike("update acceptance test", lambda a: a.update_acceptance_test("at-1", name="x")),
    alike("delete acceptance test", lambda a: a.delete_acceptance_test("at-1")),
    alike("list scenario tests", lambda a: a.list_scenario_tests()),
    alike("scenario test", lambda a: a.scenario_test("b-1")),
    alike("update scenario test", lambda a: a.update_scenario_test("b-1", description="y")),
    alike("delete scenario test", lambda a: a.delete_scenario_test("b-1")),
]


@pytest.mark.parametrize(("sdk", "ours"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_same_requests_and_values(
    server: ScriptedServer, sdk: Sdk, ours: Ours, request: pytest.FixtureRequest
) -> None:
    sdk_value, our_value = await same_wire(
        server, sdk, ours, reread=request.node.callspec.id in REREAD
    )
    assert covers(dumped(our_value), dumped(sdk_value))


def _scenarios(kind: str, data: Any) -> list[dict[str, Any]]:
    return [
        {
            "instance_id": "inst-a",
            "scenario_input": {"scenario_input_type": kind, "scenario_input_data": data},
            "configuration": [
                {"name": "solve.duration", "values": ["1s", "2s"]},
                {"name": "mode", "values": ["x"]},
            ],
        },
        {
            "instance_id": "inst-a",
            "scenario_id": "plain",
            "scenario_input": {"scenario_input_type": "input_set", "scenario_input_data": "is-2"},
        },
    ]


@pytest.mark.parametrize(
    ("kind", "data"),
    [("input_set", "is-1"), ("input", ["mi-1", "mi-2"]), ("new", [{"n": 1}, {"n": 2}])],
)
async def test_scenario_test_requests(server: ScriptedServer, kind: str, data: Any) -> None:
    """Instances read, input sets read or made (new data uploaded as managed inputs first), one
    batch experiment of type scenario with every run: the SDK's requests, in its order."""
    scenarios = _scenarios(kind, data)
    sdk_id, our_id = await same_wire(
        server,
        lambda a: a.new_scenario_test(
            [cloud.Scenario.from_dict(s) for s in scenarios], id="b-1", repetitions=1
        ),
        lambda a: a.new_scenario_test(
            [ex.Scenario.model_validate(scenarios[0]), scenarios[1]], id="b-1", repetitions=1
        ),
    )
    assert our_id == sdk_id == "b-1"
    batch = [r for r in server.requests if r.method == "POST" and r.path.endswith("/batch")]
    body = __import__("json").loads(batch[-1].body)
    # 2 option sets x 2 inputs x 2 repetitions, then 1 x 2 managed inputs x 2
    assert len(body["runs"]) == 12
    assert sorted(body["option_sets"]) == ["plain_0", "scenario-1_0", "scenario-1_1"]


async def test_scenario_test_with_result_polls_then_reads(server: ScriptedServer) -> None:
    scenarios = _scenarios("input_set", "is-1")[1:]
    sdk, ours = await same_wire(
        server,
        lambda a: a.new_scenario_test_with_result(
            [cloud.Scenario.from_dict(scenarios[0])], id="b-1", polling_options=SDK_POLL
        ),
        lambda a: a.new_scenario_test_with_result(scenarios, id="b-1", polling_options=OUR_POLL),
    )
    assert ours.id == sdk.id == "b-1"
    assert [r.id for r in ours.runs] == ["run-1", "run-2"]


async def test_acceptance_on_an_existing_experiment_reads_its_metadata(
    server: ScriptedServer,
) -> None:
    """Without an input set the experiment must exist: the SDK reads it with its runs (two
    GETs); asyncrun reads its metadata (one), then posts the same acceptance test."""
    sdk_requests, our_requests, _, ours = await both(
        server,
        lambda a: a.new_acceptance_test("inst-b", "inst-a", [p.METRIC], id="b-1"),
        lambda a: a.new_acceptance_test("inst-b", "inst-a", [p.METRIC], id="b-1"),
    )
    assert [r[:2] for r in sdk_requests[:2]] == [
        ("GET", f"{p.EXP}/batch/b-1"),
        ("GET", f"{p.EXP}/batch/b-1/runs"),
    ]
    assert [r[:2] for r in our_requests[:1]] == [("GET", f"{p.EXP}/batch/b-1/metadata")]
    assert our_requests[1:] == sdk_requests[2:]
    assert our_requests[1][3]["experiment_id"] == "b-1"
    assert ours.status == ex.ExperimentStatus.STARTED
