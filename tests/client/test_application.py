"""Every AsyncApplication method against the in-process emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from asyncrun import (
    AsyncClient,
    ConfigError,
    Input,
    InputError,
    NotFoundError,
    PollingOptions,
    PollingTimeoutError,
    RunCanceledError,
    RunFailedError,
    StatusV2,
)
from asyncrun.emulator import Emulator
from asyncrun.models import ContentFormat

from .conftest import FAST, digest, fast_client

MIB = 1024 * 1024


def calls(emu: Emulator, method: str | None = None) -> list[dict[str, Any]]:
    recent: list[dict[str, Any]] = emu.stats()["recent_requests"]
    return [r for r in recent if method is None or r["method"] == method]


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncClient]:
    async with fast_client(emu.url) as c:
        yield c


class Point(BaseModel):
    x: int
    when: datetime


async def test_new_run_with_result_dict_round_trip(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    data = {"foo": "bar", "n": [1, 2, 3]}
    result = await app.new_run_with_result(data, options={"a": 1, "b": "x"}, polling_options=FAST)
    assert result.metadata.status_v2 == StatusV2.succeeded
    assert result.output["input_digest"] == digest(data)
    assert result.output["options"] == {"a": "1", "b": "x"}
    posts = calls(emu, "POST")
    assert posts[0]["json"]["configuration"] == {
        "format": {"input": {"type": "json"}, "output": {"type": "json"}}
    }


async def test_run_options_spelling_and_both_rejected(client: AsyncClient) -> None:
    app = client.application("test-app")
    result = await app.new_run_with_result({"a": 1}, run_options={"k": "v"}, polling_options=FAST)
    assert result.output["options"] == {"k": "v"}
    with pytest.raises(ConfigError):
        await app.new_run_with_result({"a": 1}, options={}, run_options={})


async def test_pydantic_model_input_and_dates(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    run_id = await app.new_run(Point(x=1, when=when), name="nm", description="ds")
    body = calls(emu, "POST")[-1]["json"]
    assert body["input"] == {"x": 1, "when": "2024-01-02T03:04:05Z"}
    assert (body["name"], body["description"]) == ("nm", "ds")
    info = await app.run_metadata_with_polling(run_id, FAST)
    assert info.metadata.status_v2 == StatusV2.succeeded


async def test_text_input_is_uploaded(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    result = await app.new_run_with_result("a,b\n1,2\n", polling_options=FAST)
    assert result.metadata.status_v2 == StatusV2.succeeded
    methods = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in calls(emu)]
    assert methods[:3] == [("POST", "uploadurl"), ("PUT", methods[1][1]), ("POST", "runs")]
    body = calls(emu, "POST")[-1]["json"]
    assert "input" not in body and body["upload_id"]
    assert body["configuration"]["format"] == {
        "input": {"type": "text"},
        "output": {"type": "json"},
    }


async def test_input_object_with_text_format(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    run_id = await app.new_run(Input(data="hello", input_format=ContentFormat.text))
    assert calls(emu, "PUT")
    assert (await app.run_metadata_with_polling(run_id, FAST)).metadata.status_v2 == "succeeded"


async def test_json_over_five_mib_is_uploaded_and_at_limit_is_inline(
    client: AsyncClient, emu: Emulator
) -> None:
    app = client.application("test-app")
    overhead = len(json.dumps({"d": ""}, separators=(",", ":")))
    at_limit = {"d": "x" * (5 * MIB - overhead)}
    await app.new_run(at_limit)
    assert not calls(emu, "PUT")
    over = {"d": "x" * (5 * MIB - overhead + 1)}
    run_id = await app.new_run(over)
    assert len(calls(emu, "PUT")) == 1
    result = await app.run_result_with_polling(run_id, FAST)
    assert result.output["input_digest"] == digest(over)


async def test_large_output_costs_two_requests_after_polling(
    client: AsyncClient, emu: Emulator
) -> None:
    app = client.application("test-app")
    run_id = await app.new_run({"a": 1}, options={"emulator.output_bytes": 6 * MIB})
    info = await app.run_metadata_with_polling(run_id, FAST)
    assert info.metadata.output_size > 5 * MIB
    before = len(calls(emu))
    result = await app.run_result(run_id, info=info)
    assert len(calls(emu)) - before == 2
    assert result.output["input_digest"] == digest({"a": 1})
    assert "url" not in result.output


async def test_run_result_without_info_fetches_metadata(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    run_id = await app.new_run({"a": 2})
    await app.run_metadata_with_polling(run_id, FAST)
    before = len(calls(emu))
    result = await app.run_result(run_id)
    assert len(calls(emu)) - before == 2
    assert result.output["input_digest"] == digest({"a": 2})
    assert result.console_url.endswith(f"/app/test-app/run/{run_id}?view=details")


async def test_upload_id_input(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    target = await app.upload_url()
    data = json.dumps({"z": 9}).encode()
    await client.transport.put_presigned(target.upload_url, lambda: data, len(data))
    result = await app.new_run_with_result(upload_id=target.upload_id, polling_options=FAST)
    assert result.output["input_digest"] == digest({"z": 9})


async def test_failed_run_returned_or_raised(client: AsyncClient) -> None:
    app = client.application("test-app")
    opts = {"emulator.fail": "boom"}
    result = await app.new_run_with_result({"a": 1}, options=opts, polling_options=FAST)
    assert result.metadata.status_v2 == StatusV2.failed
    with pytest.raises(RunFailedError) as err:
        await app.new_run_with_result(
            {"a": 1}, options=opts, polling_options=FAST, raise_on_failure=True
        )
    assert "boom" in str(err.value)
    assert err.value.info.metadata.status_v2 == StatusV2.failed


async def test_cancel_run_and_canceled_result(client: AsyncClient) -> None:
    app = client.application("test-app")
    run_id = await app.new_run({"a": 1}, options={"emulator.duration": 10_000})
    await app.cancel_run(run_id)
    info = await app.run_metadata_with_polling(run_id, FAST)
    assert info.metadata.status_v2 == StatusV2.canceled
    with pytest.raises(RunCanceledError):
        await app.run_result_with_polling(run_id, FAST, raise_on_failure=True)


async def test_delete_run(client: AsyncClient) -> None:
    app = client.application("test-app")
    run_id = await app.new_run({"a": 1})
    await app.delete_run(run_id)
    with pytest.raises(NotFoundError) as err:
        await app.run_metadata(run_id)
    assert err.value.status_code == 404


async def test_run_logs(client: AsyncClient) -> None:
    app = client.application("test-app")
    result = await app.new_run_with_result({"a": 1}, polling_options=FAST)
    logs = await app.run_logs(result.id)
    assert isinstance(logs, str) and logs


async def test_list_runs_pages_and_find_by_name(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    ids = [await app.new_run({"i": i}, name=f"n-{i % 2}") for i in range(7)]
    listed = [run.id async for run in app.list_runs()]
    assert sorted(listed) == sorted(ids)
    pages = [r for r in calls(emu, "GET") if r["path"].endswith("/runs")]
    assert len(pages) == 3  # page_size 3
    assert pages[0]["query"] == {"pagereturn": "true"} and "pagetoken" in pages[1]["query"]
    found = await app.find_runs_by_name("n-0")
    assert sorted(r.id for r in found) == sorted(ids[0::2])
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await app.find_runs_by_name("n-0", created_after=future) == []


async def test_polling_timeout_keeps_last_info(client: AsyncClient) -> None:
    app = client.application("test-app")
    run_id = await app.new_run({"a": 1}, options={"emulator.duration": 10_000})
    with pytest.raises(PollingTimeoutError) as err:
        await app.run_result_with_polling(run_id, FAST.model_copy(update={"max_tries": 3}))
    assert err.value.run_id == run_id
    assert err.value.info.metadata.status_v2 in (StatusV2.queued, StatusV2.running)
    await app.cancel_run(run_id)


async def test_stop_returns_last_metadata_and_result_raises_clearly(client: AsyncClient) -> None:
    app = client.application("test-app")
    run_id = await app.new_run({"a": 1}, options={"emulator.duration": 10_000})
    polls = iter([False, False, True])
    options = FAST.model_copy(update={"stop": lambda: next(polls)})
    info = await app.run_metadata_with_polling(run_id, options)
    assert info.id == run_id and not info.metadata.run_is_finalized()
    with pytest.raises(PollingTimeoutError, match="stop"):
        await app.run_result_with_polling(run_id, FAST.model_copy(update={"stop": lambda: True}))
    await app.cancel_run(run_id)


async def test_ids_validated_and_escaped(client: AsyncClient, emu: Emulator) -> None:
    with pytest.raises(ConfigError):
        client.application("A b")
    with pytest.raises(ConfigError):
        client.application("-ab")
    app = client.application("test-app")
    with pytest.raises(ConfigError):
        await app.run_metadata("")
    with pytest.raises(ConfigError):
        await app.run_metadata("r\n1")
    with pytest.raises(NotFoundError):
        await app.run_metadata("../x?z=1#f")
    # The whole id arrived as one escaped path segment, with no query.
    last = calls(emu)[-1]
    assert last["path"] == "/v1/applications/test-app/runs/..%2Fx%3Fz%3D1%23f/metadata"
    assert last["query"] == {}


async def test_unsupported_input_is_rejected_before_any_request(
    client: AsyncClient, emu: Emulator
) -> None:
    app = client.application("test-app")
    circular: dict[str, object] = {}
    circular["self"] = circular
    for bad in (42, b"bytes", None, {"d": object()}, circular, {"deep": [[[circular]]]}):
        with pytest.raises(InputError):
            await app.new_run(bad)
    assert calls(emu) == []


async def test_input_json_as_the_sdk_writes_it(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    value = {"name": "café", "at": when, "n": [1, 2.5, None, True], "inf": float("inf")}
    await app.new_run(value, options={"when": when, "list": [1, "a"]})
    post = calls(emu, "POST")[-1]
    assert post["json"]["input"] == {
        "name": "café",
        "at": "2026-11-30T12:00:00+00:00",
        "n": [1, 2.5, None, True],
        "inf": float("inf"),
    }
    # An option that is not a string goes as its JSON text.
    assert post["json"]["options"] == {"when": '"2026-11-30T12:00:00+00:00"', "list": '[1,"a"]'}


async def test_instance_id_query_and_configuration_kept(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    await app.new_run({"a": 1}, instance_id="latest", configuration={"queuing": {"priority": 3}})
    post = calls(emu, "POST")[-1]
    assert post["query"] == {"instance_id": "latest"}
    assert post["json"]["configuration"] == {"queuing": {"priority": 3}}


async def test_client_outside_context_is_config_error() -> None:
    client = AsyncClient("k", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="async with"):
        client.application("test-app")
    assert repr(client) == "AsyncClient(url='http://127.0.0.1:9')"


async def test_unreachable_polling_gives_up_after_max_unreachable(emu: Emulator) -> None:
    async with fast_client(emu.url) as c:
        app = c.application("test-app")
        run_id = await app.new_run({"a": 1})
    options = PollingOptions(initial_delay=0, delay=0.001, backoff=0.001, jitter=0)
    # the same client, now pointed at a closed port: every poll is a connect failure
    async with fast_client("http://127.0.0.1:9") as dead:
        app = dead.application("test-app")
        with pytest.raises(Exception) as err:
            await app.run_metadata_with_polling(
                run_id, options.model_copy(update={"max_unreachable": 0.05})
            )
    assert type(err.value).__name__ == "APIConnectionError"


async def test_lost_create_answer_is_ambiguous_and_reconcilable(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> None:
    from asyncrun import AmbiguousSubmitError
    from asyncrun.emulator import FaultProfile

    async with (
        emulator_factory(faults=FaultProfile(lost_create=1.0)) as emu,
        fast_client(emu.url) as client,
    ):
        app = client.application("test-app")
        started = datetime.now(UTC) - timedelta(seconds=5)
        with pytest.raises(AmbiguousSubmitError) as err:
            await app.new_run({"a": 1}, name="sweep-1/k7")
        assert err.value.run_name == "sweep-1/k7"
        assert len(calls(emu, "POST")) == 1  # not retried
        found = await app.find_runs_by_name("sweep-1/k7", created_after=started)
        assert len(found) == 1  # the run exists exactly once


async def test_many_concurrent_runs_each_get_their_own_result(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> None:
    from asyncrun import Limits, RateLimits

    inputs = [{"scenario": i} for i in range(300)]
    limits = Limits(max_connections=16, rate=RateLimits.unlimited())
    async with (
        emulator_factory(time_scale=50.0) as emu,
        fast_client(emu.url, limits=limits) as client,
    ):
        app = client.application("test-app")
        results = await asyncio.gather(
            *(app.new_run_with_result(data, polling_options=FAST) for data in inputs)
        )
        routes = emu.stats()["requests"]
    assert [r.output["input_digest"] for r in results] == [digest(d) for d in inputs]
    assert routes["POST /v1/applications/{app_id}/runs"] == {"200": 300}
    assert routes["GET /v1/applications/{app_id}/runs/{run_id}"] == {"200": 300}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>bad gateway</html>", "run_metadata: the API answered with invalid JSON"),
        ({"id": "r1", "metadata": {"duration": "long"}}, "run_metadata: unexpected answer"),
        ({"metadata": "nope"}, "run_metadata: unexpected answer"),
    ],
)
async def test_a_malformed_answer_is_an_api_error_not_a_crash(body: Any, message: str) -> None:
    from asyncrun.errors import APIError

    from .scripted_server import Reply, ScriptedServer

    async with ScriptedServer() as server:
        path = "/v1/applications/app/runs/r1/metadata"
        server.script("GET", path, Reply(200, body=body))
        async with fast_client(server.url) as client:
            with pytest.raises(APIError, match=message) as caught:
                await client.application("app").run_metadata("r1")
    assert caught.type is APIError  # not a status error: the answer itself was unusable


async def test_a_direct_result_read_fetches_a_left_out_large_output_by_url() -> None:
    """run_result_direct: one GET runs/{id}; when the answer leaves a large JSON output out,
    the `?format=url` read and the download follow (the answer serves as the metadata)."""
    from .scripted_server import Reply, ScriptedServer

    async with ScriptedServer() as server:
        path = "/v1/applications/app/runs/r1"
        meta = {"status_v2": "succeeded", "output_size": 6 * 2**20}
        server.script(
            "GET",
            path,
            Reply(200, body={"id": "r1", "metadata": meta, "output": None}),
            Reply(200, body={"id": "r1", "metadata": meta, "output": {"url": server.url + "/dl"}}),
        )
        server.script("GET", "/dl", Reply(200, body={"big": True}))
        server.script("GET", "/v1/applications/app/runs/r2", Reply(200, body={"id": "r2"}))
        async with fast_client(server.url) as client:
            app = client.application("app")
            result = await app.run_result_direct("r1")
            pending = await app.run_result_direct("r2")
    assert result.output == {"big": True}
    assert [c.query for c in server.calls("GET", path)] == [{}, {"format": "url"}]
    assert pending.metadata.status_v2 == "none" and pending.output is None


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_capped_direct_read_leaves_a_larger_answer_unread(chunked: bool) -> None:
    """run_result_direct(max_inline=): an answer over the cap is not taken in (whether its size
    is announced or not); the result then comes as run_result gets it: metadata, then the
    result read. An answer within the cap is read as usual."""
    from .scripted_server import Reply, ScriptedServer

    big = {"id": "r1", "metadata": {"status_v2": "succeeded"}, "output": {"x": "y" * 50_000}}
    meta = {"id": "r1", "metadata": {"status_v2": "succeeded", "output_size": 50_012}}
    async with ScriptedServer() as server:
        path = "/v1/applications/app/runs/r1"
        server.script("GET", path, Reply(200, body=big, chunked=chunked), Reply(200, body=big))
        server.script("GET", path + "/metadata", Reply(200, body=meta))
        server.script("GET", "/v1/applications/app/runs/r2", Reply(200, body={"id": "r2"}))
        async with fast_client(server.url) as client:
            app = client.application("app")
            result = await app.run_result_direct("r1", max_inline=10_000)
            small = await app.run_result_direct("r2", max_inline=10_000)
    assert result.output == big["output"]
    assert [c.path for c in server.calls("GET")] == [
        path,
        path + "/metadata",
        path,
        "/v1/applications/app/runs/r2",
    ]
    assert small.id == "r2"
