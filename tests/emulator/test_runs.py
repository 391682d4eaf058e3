"""The run API of the emulator, driven over HTTP with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from asyncrun.emulator import Emulator

APP = "/v1/applications/test-app"
AUTH = {"Authorization": "Bearer test-key"}


def canonical_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def fast(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> AsyncIterator[Emulator]:
    async with emulator_factory(time_scale=100.0, page_size=5) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def create(
    http: aiohttp.ClientSession, emu: Emulator, body: dict[str, Any], **query: str
) -> str:
    async with http.post(f"{emu.url}{APP}/runs", json=body, params=query) as resp:
        assert resp.status == 200, await resp.text()
        run_id: str = (await resp.json())["run_id"]
        return run_id


async def metadata(http: aiohttp.ClientSession, emu: Emulator, run_id: str) -> dict[str, Any]:
    async with http.get(f"{emu.url}{APP}/runs/{run_id}/metadata") as resp:
        assert resp.status == 200
        info: dict[str, Any] = await resp.json()
        return info


async def wait_terminal(
    http: aiohttp.ClientSession, emu: Emulator, run_id: str, *, polls: int = 400
) -> tuple[dict[str, Any], list[str]]:
    """Poll until terminal; returns the last metadata and every status seen, in order."""
    seen: list[str] = []
    for _ in range(polls):
        info = await metadata(http, emu, run_id)
        status = info["metadata"]["status_v2"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("succeeded", "failed", "canceled"):
            return info, seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} did not finish; statuses seen {seen}")


async def test_inline_run_goes_through_its_lifecycle_and_proves_its_input(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
    http: aiohttp.ClientSession,
) -> None:
    # 2 s queued and 3 s running at time scale 10: 0.2 s and 0.3 s of real time, long enough
    # for 10 ms polls to see every state.
    async with emulator_factory(time_scale=10.0, queue_delay=2.0) as emu:
        payload = {"b": [1, 2], "a": "héllo"}
        run_id = await create(
            http, emu, {"input": payload, "name": "n-1", "options": {"emulator.duration": "3"}}
        )
        info, seen = await wait_terminal(http, emu, run_id)
        assert seen == ["queued", "running", "succeeded"]
        meta = info["metadata"]
        assert meta["duration"] == pytest.approx(5000, abs=1)  # simulated, queue included
        assert meta["execution_duration"] == pytest.approx(3000, abs=1)
        assert meta["status"] == "succeeded"
        assert meta["run_type"] == {"type": "standard"}
        async with http.get(f"{emu.url}{APP}/runs/{run_id}") as resp:
            result = await resp.json()
        output = result["output"]
        assert output["input_digest"] == canonical_digest(payload)
        assert output["options"] == {"emulator.duration": "3"}
        assert output["statistics"]["result"]["value"] == output["value"]
        assert meta["output_size"] == len(json.dumps(output, separators=(",", ":")))


async def test_result_by_url_downloads_the_same_output_without_auth(
    fast: Emulator, http: aiohttp.ClientSession
) -> None:
    run_id = await create(http, fast, {"input": {"x": 1}})
    await wait_terminal(http, fast, run_id)
    async with http.get(f"{fast.url}{APP}/runs/{run_id}", params={"format": "url"}) as resp:
        url = (await resp.json())["output"]["url"]
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/output", params={"format": "url"}) as resp:
        assert (await resp.json())["url"].split("?")[0] == url.split("?")[0]
    async with aiohttp.ClientSession() as bare, bare.get(url) as resp:
        assert resp.status == 200
        assert (await resp.json())["input_digest"] == canonical_digest({"x": 1})
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/output") as resp:
        assert (await resp.json())["input_digest"] == canonical_digest({"x": 1})


async def test_uploaded_text_input_is_digested_as_bytes(
    fast: Emulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{fast.url}{APP}/runs/uploadurl") as resp:
        upload = await resp.json()
    text = "hello, wörld\n"
    async with (
        aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as bare,
        bare.put(upload["upload_url"], data=text.encode()) as resp,
    ):
        assert resp.status == 200, await resp.text()
    body = {
        "upload_id": upload["upload_id"],
        "configuration": {"format": {"input": {"type": "text"}, "output": {"type": "json"}}},
    }
    run_id = await create(http, fast, body)
    info, _ = await wait_terminal(http, fast, run_id)
    assert info["metadata"]["input_size"] == len(text.encode())
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/output") as resp:
        output = await resp.json()
    assert output["input_digest"] == hashlib.sha256(text.encode()).hexdigest()
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/input") as resp:
        assert await resp.read() == text.encode()


async def test_failing_run_reports_its_message(fast: Emulator, http: aiohttp.ClientSession) -> None:
    run_id = await create(http, fast, {"input": {}, "options": {"emulator.fail": "boom"}})
    info, seen = await wait_terminal(http, fast, run_id)
    assert seen[-1] == "failed"
    assert info["metadata"]["error"] == "boom"
    async with http.get(f"{fast.url}{APP}/runs/{run_id}") as resp:
        result = await resp.json()
    assert result["output"] is None
    assert result["error_log"]["error"] == "boom"
    assert info["metadata"]["metrics"] is None
    # What the app wrote before failing is its output (the SDK's run_output reads it).
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/output") as resp:
        assert resp.status == 200
        output = await resp.json()
    assert output["options"] == {"emulator.fail": "boom"} and output["error"] == "boom"
    assert "value" not in output
    assert info["metadata"]["output_size"] == len(json.dumps(output, separators=(",", ":")))


async def test_cancel_stops_a_long_run(fast: Emulator, http: aiohttp.ClientSession) -> None:
    run_id = await create(http, fast, {"input": {}, "options": {"emulator.duration": "3600"}})
    async with http.patch(f"{fast.url}{APP}/runs/{run_id}/cancel") as resp:
        assert resp.status == 200
    info = await metadata(http, fast, run_id)
    assert info["metadata"]["status_v2"] == "canceled"
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/logs") as resp:
        assert "run canceled" in (await resp.json())["log"]


async def test_list_runs_pages_newest_first(fast: Emulator, http: aiohttp.ClientSession) -> None:
    created = [await create(http, fast, {"input": {"i": i}, "name": f"r{i}"}) for i in range(12)]
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params = {"pagereturn": "true"} | ({"pagetoken": token} if token else {})
        async with http.get(f"{fast.url}{APP}/runs", params=params) as resp:
            body = await resp.json()
        pages.append([r["id"] for r in body["runs"]])
        token = body["next_page_token"]
        if not token:
            break
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for p in pages for i in p] == created[::-1]
    async with http.get(f"{fast.url}{APP}/runs") as resp:
        assert [r["id"] for r in (await resp.json())["runs"]] == created[::-1]
    async with http.get(f"{fast.url}/v1/applications/other-app/runs") as resp:
        assert (await resp.json())["runs"] == []


async def test_delete_forgets_the_run(fast: Emulator, http: aiohttp.ClientSession) -> None:
    run_id = await create(http, fast, {"input": {}})
    async with http.delete(f"{fast.url}{APP}/runs/{run_id}") as resp:
        assert resp.status == 200
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/metadata") as resp:
        assert resp.status == 404
        assert "not found" in (await resp.json())["error"]


async def test_stats_count_routes_names_and_bodies(
    fast: Emulator, http: aiohttp.ClientSession
) -> None:
    for _ in range(2):
        await create(http, fast, {"input": {"k": 1}, "name": "dup"})
    stats = fast.stats()
    assert stats["runs_created"] == 2
    assert stats["runs_per_name"] == {"dup": 2}
    assert stats["requests"]["POST /v1/applications/{app_id}/runs"] == {"200": 2}
    last = stats["recent_requests"][-1]
    assert last["json"] == {"input": {"k": 1}, "name": "dup"}
    assert "Authorization" not in last["headers"]
    async with aiohttp.ClientSession() as bare, bare.get(f"{fast.url}/_emulator/stats") as resp:
        assert (await resp.json())["runs_created"] == 2


async def test_run_timeline_gives_real_times(fast: Emulator, http: aiohttp.ClientSession) -> None:
    run_id = await create(
        http, fast, {"input": {}, "name": "t", "options": {"emulator.duration": "10"}}
    )
    await wait_terminal(http, fast, run_id)
    async with aiohttp.ClientSession() as bare, bare.get(f"{fast.url}/_emulator/runs") as resp:
        (entry,) = await resp.json()
    assert entry["id"] == run_id and entry["name"] == "t" and entry["status"] == "succeeded"
    # 10 simulated seconds at time scale 100 are 0.1 real seconds.
    assert entry["ended"] - entry["started"] == pytest.approx(0.1, abs=1e-6)
    assert fast.runs() == [entry]


async def test_capacity_queues_runs_first_come_first_served(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
    http: aiohttp.ClientSession,
) -> None:
    async with emulator_factory(capacity=2, time_scale=100.0) as emu:
        long = {"input": {}, "options": {"emulator.duration": "36000"}}
        ids = [await create(http, emu, long) for _ in range(3)]
        statuses = [(await metadata(http, emu, i))["metadata"]["status_v2"] for i in ids]
        assert statuses == ["running", "running", "queued"]
    async with emulator_factory(capacity=2, time_scale=100.0) as emu:
        short = {"input": {}, "options": {"emulator.duration": "10"}}
        ids = [await create(http, emu, short) for _ in range(5)]
        await wait_terminal(http, emu, ids[-1])
        runs = {r["id"]: r for r in emu.runs()}
        first, second, third, fourth, fifth = (runs[i] for i in ids)
        assert third["started"] == pytest.approx(first["ended"], abs=1e-3)
        assert fourth["started"] == pytest.approx(second["ended"], abs=1e-3)
        assert fifth["started"] == pytest.approx(third["ended"], abs=1e-3)


async def test_queue_knob_holds_one_run_in_the_queue(
    fast: Emulator, http: aiohttp.ClientSession
) -> None:
    stuck = await create(http, fast, {"input": {}, "options": {"emulator.queue": "36000"}})
    free = await create(http, fast, {"input": {}})
    _, seen = await wait_terminal(http, fast, free)
    assert seen[-1] == "succeeded"
    info = await metadata(http, fast, stuck)
    assert info["metadata"]["status_v2"] == "queued"
    assert info["metadata"]["initiated_at"] is None


async def _page(
    http: aiohttp.ClientSession, emu: Emulator, app: str, token: str | None
) -> tuple[list[dict[str, Any]], str]:
    params = {"pagereturn": "true"} | ({"pagetoken": token} if token else {})
    async with http.get(f"{emu.url}/v1/applications/{app}/runs", params=params) as resp:
        assert resp.status == 200
        body = await resp.json()
    return body["runs"], body["next_page_token"]


async def test_list_pages_hold_50_runs_of_one_app_newest_first_with_their_status(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
    http: aiohttp.ClientSession,
) -> None:
    """Two batches of one app and a second app submit interleaved; every page of app A holds up
    to 50 of A's runs only, newest first, each with the status_v2 its metadata reports, and a
    walk started before more runs arrive neither repeats nor skips a run."""
    async with emulator_factory(time_scale=1.0) as emu:
        mine: list[str] = []
        for i in range(60):
            # Every run's status is fixed while the test reads it: instant or an hour long.
            fast_one = {"emulator.duration": "0" if i % 3 == 0 else "3600"}
            mine.append(
                await create(
                    http, emu, {"input": {"i": i}, "name": f"b{i % 2}/{i}", "options": fast_one}
                )
            )
            async with http.post(
                f"{emu.url}/v1/applications/other-app/runs", json={"input": {"i": i}}
            ) as resp:
                assert resp.status == 200
        first, token = await _page(http, emu, "test-app", None)
        newer = await create(http, emu, {"input": {"late": True}})  # lands above the walk
        second, end = await _page(http, emu, "test-app", token)
        assert [len(first), len(second), end] == [50, 10, ""]
        assert [r["id"] for r in first + second] == mine[::-1]
        assert newer not in {r["id"] for r in first + second}
        for item in first[:5] + second[-5:]:
            info = await metadata(http, emu, item["id"])
            assert item["status_v2"] == info["metadata"]["status_v2"]
        statuses = {r["id"]: r["status_v2"] for r in first + second}
        assert {statuses[mine[i]] for i in range(0, 60, 3)} == {"succeeded"}
