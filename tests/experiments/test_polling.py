"""Waiting for an experiment: polls until a final status (the SDK's set), then one read; every
wait bounded (max_tries / max_duration, and a finite default) and cancellable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import asyncrun
from asyncrun import NotFoundError, PollingTimeoutError
from asyncrun.experiments import DEFAULT_EXPERIMENT_POLLING, ExperimentStatus
from tests.client.conftest import fast_client
from tests.client.scripted_server import Reply, ScriptedServer

from . import payloads as p

FAST = asyncrun.PollingOptions(initial_delay=0, delay=0.001, backoff=0, jitter=0, max_tries=50)
META = f"{p.EXP}/batch/b-1/metadata"


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        s.script("GET", f"{p.EXP}/batch/b-1", default=Reply(200, body=p.batch_experiment()))
        s.script("GET", f"{p.EXP}/batch/b-1/runs", default=Reply(200, body=p.BATCH_RUNS))
        yield s


def statuses(server: ScriptedServer, *values: str, then: str | None = None) -> None:
    replies = [Reply(200, body=p.batch_metadata(v)) for v in values]
    default = Reply(200, body=p.batch_metadata(then)) if then else None
    server.script("GET", META, *replies, default=default)


@pytest.mark.parametrize("final", ["completed", "failed", "canceled", "draft", "delete-failed"])
async def test_polls_until_a_final_status_then_reads_once(
    server: ScriptedServer, final: str
) -> None:
    statuses(server, "started", "unknown", "stopping", "paused-by-a-future-api", final)
    async with fast_client(server.url) as client:
        batch = await client.application(p.APP).batch_experiment_with_polling("b-1", FAST)
    assert len(server.calls("GET", META)) == 5
    assert len(server.calls("GET", f"{p.EXP}/batch/b-1")) == 1
    assert batch.id == "b-1" and [r.id for r in batch.runs or []] == ["run-1", "run-2"]


async def test_max_tries_bounds_the_wait_and_names_the_experiment(server: ScriptedServer) -> None:
    statuses(server, then="started")
    options = FAST.model_copy(update={"max_tries": 3})
    async with fast_client(server.url) as client:
        with pytest.raises(PollingTimeoutError, match="batch experiment b-1 not finished") as err:
            await client.application(p.APP).batch_experiment_with_polling("b-1", options)
    assert len(server.calls("GET", META)) == 3
    assert server.calls("GET", f"{p.EXP}/batch/b-1") == []
    assert err.value.run_id == "b-1"
    assert err.value.info.status == ExperimentStatus.STARTED


async def test_stop_ends_the_wait(server: ScriptedServer) -> None:
    statuses(server, then="started")
    polls = iter(range(100))
    options = FAST.model_copy(update={"stop": lambda: next(polls) >= 2})
    async with fast_client(server.url) as client:
        with pytest.raises(PollingTimeoutError, match=r"stopped by stop\(\).*status started"):
            await client.application(p.APP).batch_experiment_with_polling("b-1", options)
    assert len(server.calls("GET", META)) == 2


async def test_cancelling_the_wait_stops_polling(server: ScriptedServer) -> None:
    statuses(server, then="started")
    async with fast_client(server.url) as client:
        app = client.application(p.APP)
        task = asyncio.create_task(app.batch_experiment_with_polling("b-1", FAST))
        await server.arrived("GET", META, 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        polls = len(server.calls("GET", META))
        await asyncio.sleep(0.05)  # no poll loop is left behind to send more
    assert len(server.calls("GET", META)) == polls


async def test_an_experiment_deleted_while_waiting_is_not_polled_on(
    server: ScriptedServer,
) -> None:
    server.script("GET", META, Reply(200, body=p.batch_metadata("started")))
    server.script("GET", META, default=Reply(404, body={"error": "batch experiment not found"}))
    async with fast_client(server.url) as client:
        with pytest.raises(NotFoundError):
            await client.application(p.APP).batch_experiment_with_polling("b-1", FAST)
    assert len(server.calls("GET", META)) == 2


async def test_acceptance_test_with_polling_returns_the_final_answer(
    server: ScriptedServer,
) -> None:
    path = f"{p.EXP}/acceptance/at-1"
    server.script(
        "GET",
        path,
        Reply(200, body=p.acceptance_test("started")),
        default=Reply(200, body=p.acceptance_test("completed")),
    )
    async with fast_client(server.url) as client:
        test = await client.application(p.APP).acceptance_test_with_polling("at-1", FAST)
    assert len(server.calls("GET", path)) == 2
    assert test.status == ExperimentStatus.COMPLETED
    assert test.results is not None and test.results.passed


def test_the_default_wait_is_bounded() -> None:
    """Without polling_options the SDK would poll forever; asyncrun stops after a day."""
    assert 0 < DEFAULT_EXPERIMENT_POLLING.max_duration <= 24 * 3600
