"""Outputs: multi-file archives (including hostile ones for the client's safety tests),
large JSON outputs, and real executables through `app_command`."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tarfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from asyncrun.emulator import Emulator

APP = "/v1/applications/test-app"
AUTH = {"Authorization": "Bearer test-key"}
MULTI_OUT = {"format": {"input": {"type": "json"}, "output": {"type": "multi-file"}}}
Factory = Callable[..., AbstractAsyncContextManager[Emulator]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


@pytest.fixture
async def fast(emulator_factory: Factory) -> AsyncIterator[Emulator]:
    async with emulator_factory(time_scale=1000.0) as emu:
        yield emu


async def finished_run(
    http: aiohttp.ClientSession, emu: Emulator, body: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    async with http.post(f"{emu.url}{APP}/runs", json=body) as resp:
        assert resp.status == 200, await resp.text()
        run_id: str = (await resp.json())["run_id"]
    for _ in range(500):
        async with http.get(f"{emu.url}{APP}/runs/{run_id}/metadata") as resp:
            info: dict[str, Any] = await resp.json()
        if info["metadata"]["status_v2"] in ("succeeded", "failed", "canceled"):
            return run_id, info
        await asyncio.sleep(0.01)
    raise AssertionError("run did not finish")


async def download_output(http: aiohttp.ClientSession, emu: Emulator, run_id: str) -> bytes:
    async with http.get(f"{emu.url}{APP}/runs/{run_id}/output", params={"format": "url"}) as resp:
        url = (await resp.json())["url"]
    async with aiohttp.ClientSession() as bare, bare.get(url) as resp:
        assert resp.status == 200
        return await resp.read()


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


async def test_multi_file_output_holds_result_and_filler(
    fast: Emulator, http: aiohttp.ClientSession
) -> None:
    body = {
        "input": {"a": 1},
        "configuration": MULTI_OUT,
        "options": {"emulator.output_bytes": "300000"},
    }
    run_id, info = await finished_run(http, fast, body)
    archive = await download_output(http, fast, run_id)
    assert info["metadata"]["output_size"] == len(archive)
    found = members(archive)
    assert set(found) == {"result.json", "filler.bin"}
    assert found["filler.bin"].size == 300000
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        source = tar.extractfile("result.json")
        assert source is not None
        result = json.load(source)
    assert "padding" not in result
    assert result["options"] == {"emulator.output_bytes": "300000"}
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/output") as resp:
        assert resp.status == 400
        assert "format=url" in (await resp.json())["error"]


@pytest.mark.parametrize(
    ("kind", "name", "check"),
    [
        ("traversal", "../escape.txt", lambda m: m.isfile()),
        ("absolute", "/abs.txt", lambda m: m.isfile()),
        ("symlink", "outside-link", lambda m: m.issym() and m.linkname.startswith("../")),
    ],
)
async def test_evil_outputs_carry_the_hostile_member(
    fast: Emulator,
    http: aiohttp.ClientSession,
    kind: str,
    name: str,
    check: Callable[[tarfile.TarInfo], bool],
) -> None:
    options = {"emulator.evil_output": kind}
    run_id, _ = await finished_run(
        http, fast, {"input": {}, "configuration": MULTI_OUT, "options": options}
    )
    found = members(await download_output(http, fast, run_id))
    assert "result.json" in found
    assert check(found[name])


async def test_large_json_output_inline_is_streamed_whole(
    fast: Emulator, http: aiohttp.ClientSession
) -> None:
    size = 3 * 2**20
    run_id, info = await finished_run(
        http, fast, {"input": {"q": 1}, "options": {"emulator.output_bytes": str(size)}}
    )
    assert info["metadata"]["output_size"] == size
    async with http.get(f"{fast.url}{APP}/runs/{run_id}/output") as resp:
        raw = await resp.read()
    assert len(raw) == size
    async with http.get(f"{fast.url}{APP}/runs/{run_id}") as resp:
        result = await resp.json()
    assert len(json.dumps(result["output"], separators=(",", ":"))) == size
    assert result["output"] == json.loads(raw)


_ECHO_APP = (
    "import json, os, sys; data = json.load(sys.stdin); "
    "opts = json.loads(os.environ['EMULATOR_OPTIONS']); "
    "sys.stderr.write('solving\\n'); "
    "json.dump({'echo': data, 'opts': opts}, sys.stdout)"
)


def _command(code: str) -> str:
    return f"{sys.executable} -c {json.dumps(code)}"


async def test_app_command_runs_the_executable(
    emulator_factory: Factory, http: aiohttp.ClientSession
) -> None:
    async with emulator_factory(app_command=_command(_ECHO_APP)) as emu:
        run_id, info = await finished_run(
            http, emu, {"input": {"n": [1, 2]}, "options": {"k": "v"}}
        )
        assert info["metadata"]["status_v2"] == "succeeded"
        async with http.get(f"{emu.url}{APP}/runs/{run_id}") as resp:
            output = (await resp.json())["output"]
        assert output == {"echo": {"n": [1, 2]}, "opts": {"k": "v"}}
        assert info["metadata"]["output_size"] == len(json.dumps(output))
        async with http.get(f"{emu.url}{APP}/runs/{run_id}/logs") as resp:
            assert "solving" in (await resp.json())["log"]


async def test_app_command_failure_is_a_failed_run(
    emulator_factory: Factory, http: aiohttp.ClientSession
) -> None:
    code = "import sys; sys.stderr.write('no solution\\n'); sys.exit(3)"
    async with emulator_factory(app_command=_command(code)) as emu:
        _, info = await finished_run(http, emu, {"input": {}})
    assert info["metadata"]["status_v2"] == "failed"
    assert "no solution" in info["metadata"]["error"]


async def test_app_command_cancel_kills_the_process(
    emulator_factory: Factory, http: aiohttp.ClientSession
) -> None:
    code = "import sys, time; sys.stdin.read(); print('started', flush=True); time.sleep(60)"
    async with emulator_factory(app_command=_command(code)) as emu:
        async with http.post(f"{emu.url}{APP}/runs", json={"input": {}}) as resp:
            run_id = (await resp.json())["run_id"]
        for _ in range(500):
            if emu.state.commands is not None and emu.state.commands.running() == 1:
                break
            await asyncio.sleep(0.01)
        async with http.patch(f"{emu.url}{APP}/runs/{run_id}/cancel") as resp:
            assert resp.status == 200
        for _ in range(500):
            if emu.state.commands is not None and emu.state.commands.running() == 0:
                break
            await asyncio.sleep(0.01)
        assert emu.state.commands is not None and emu.state.commands.running() == 0
        async with http.get(f"{emu.url}{APP}/runs/{run_id}/metadata") as resp:
            assert (await resp.json())["metadata"]["status_v2"] == "canceled"
