"""Managed inputs, run input/output, live logs, metrics and the SDK's argument names, against
the in-process emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncrun import (
    AsyncApplication,
    ConfigError,
    ContentFormat,
    Input,
    ManagedInput,
    NotFoundError,
    PollingOptions,
    PollingTimeoutError,
    StatusV2,
)
from asyncrun.emulator import Emulator

from .conftest import FAST, digest, fast_client

MIB = 1024 * 1024


def requests_to(emu: Emulator, method: str, suffix: str) -> list[dict[str, Any]]:
    recent: list[dict[str, Any]] = emu.stats()["recent_requests"]
    return [r for r in recent if r["method"] == method and r["path"].endswith(suffix)]


@pytest.fixture
async def app(emu: Emulator) -> AsyncIterator[AsyncApplication]:
    async with fast_client(emu.url) as client:
        yield client.application("test-app")


# ---------------------------------------------------------------- managed inputs


async def test_managed_input_uploaded_once_and_run_many_times(
    app: AsyncApplication, emu: Emulator
) -> None:
    payload = {"blob": "m" * 200_000}
    managed = await app.new_managed_input(input=payload, name="shared")
    assert managed.name == "shared" and managed.upload_id
    assert managed.input_type == ContentFormat.json
    stored = emu.stats()["bytes_stored"]
    by_object = [await app.new_run(managed, options={"seed": str(i)}) for i in range(3)]
    by_id = await app.new_run(managed_input_id=managed.id)
    for run_id in [*by_object, by_id]:
        result = await app.run_result_with_polling(run_id, FAST)
        assert result.output["input_digest"] == digest(payload)
    posts = requests_to(emu, "POST", "/runs")
    assert [p["json"]["input_id"] for p in posts] == [managed.id] * 4
    assert all("input" not in p["json"] and "upload_id" not in p["json"] for p in posts)
    assert len(requests_to(emu, "PUT", "")) == 1  # one upload for four runs
    # A ManagedInput costs no lookup; an id costs one GET (for its format), as in the SDK.
    assert len(requests_to(emu, "GET", f"/inputs/{managed.id}")) == 1
    assert emu.stats()["bytes_stored"] - stored < 4 * 2000  # outputs only, no input copies


async def test_managed_input_lifecycle_and_listing(app: AsyncApplication, emu: Emulator) -> None:
    first = await app.new_run_with_result({"k": 1}, polling_options=FAST)
    made = [await app.new_managed_input(id=f"mi-{i}", run_id=first.id) for i in range(4)]
    assert made[0].run_id == first.id
    listed = [m.id async for m in app.list_managed_inputs()]
    assert listed == ["mi-3", "mi-2", "mi-1", "mi-0"]
    assert len(requests_to(emu, "GET", "/inputs")) == 2  # pages of 3
    renamed = await app.update_managed_input("mi-0", name="zero", description="the first")
    assert (renamed.name, renamed.description) == ("zero", "the first")
    assert (await app.managed_input("mi-0")).name == "zero"
    again = await app.new_run_with_result(managed_input_id="mi-0", polling_options=FAST)
    assert again.output["input_digest"] == digest({"k": 1})
    await app.delete_managed_input("mi-0")
    with pytest.raises(NotFoundError):
        await app.managed_input("mi-0")


async def test_managed_input_of_a_directory(
    app: AsyncApplication, emu: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("alpha")
    managed = await app.new_managed_input(dir_path=tmp_path / "in")
    assert managed.input_type == ContentFormat.multi_file
    result = await app.new_run_with_result(
        managed, polling_options=FAST, output_dir_path=tmp_path / "out"
    )
    document = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [f["name"] for f in document["files"]] == ["a.txt"]
    assert result.output["files"] == ["result.json"]
    runs = await app.run_input(result.id, output_dir=tmp_path / "back")
    assert runs["files"] == ["a.txt"] and (tmp_path / "back" / "a.txt").read_text() == "alpha"


async def test_managed_input_refusals_before_any_request(
    app: AsyncApplication, emu: Emulator
) -> None:
    before = len(emu.stats()["recent_requests"])
    managed = ManagedInput(id="mi-x")
    with pytest.raises(ConfigError):
        await app.new_run({"a": 1}, managed_input_id="mi-x")
    with pytest.raises(ConfigError):
        await app.new_run(managed, upload_id="u-1")
    with pytest.raises(ConfigError):
        await app.new_run(managed_input_id="bad id/with slash", configuration={})
    with pytest.raises(ConfigError):
        await app.new_managed_input(upload_id="u-1", run_id="r-1")
    with pytest.raises(ConfigError):
        await app.new_managed_input()
    assert len(emu.stats()["recent_requests"]) == before


# ---------------------------------------------------------------- run input / output


async def test_run_input_json_text_and_large(app: AsyncApplication, emu: Emulator) -> None:
    small = {"s": [1, 2]}
    big = {"blob": "b" * (5 * MIB + 1)}
    text = "one\ntwo\n"
    ids = [
        await app.new_run(small),
        await app.new_run(big),
        await app.new_run(Input(data=text, input_format=ContentFormat.text)),
    ]
    assert await app.run_input(ids[0]) == small
    assert await app.run_input(ids[1]) == big
    assert await app.run_input(ids[2]) == text
    queries = [r["query"] for r in requests_to(emu, "GET", "/input")]
    assert queries == [{}, {"format": "url"}, {}]


async def test_run_output_of_a_success_a_failure_and_a_large_one(
    app: AsyncApplication, emu: Emulator
) -> None:
    ok = await app.new_run_with_result({"o": 1}, polling_options=FAST)
    assert await app.run_output(ok.id) == ok.output
    failed = await app.new_run_with_result(
        {"o": 2}, options={"emulator.fail": "infeasible"}, polling_options=FAST
    )
    assert failed.metadata.status_v2 == StatusV2.failed
    output = await app.run_output(failed.id, info=failed)
    assert output["error"] == "infeasible" and output["input_digest"] == digest({"o": 2})
    large = await app.run_metadata_with_polling(
        await app.new_run({"o": 3}, options={"emulator.output_bytes": str(6 * MIB)}), FAST
    )
    emu.reset_stats()
    body = await app.run_output(large.id, info=large)
    assert len(json.dumps(body, separators=(",", ":"))) == 6 * MIB
    assert [r["query"] for r in requests_to(emu, "GET", "/output")] == [{"format": "url"}]
    assert sum(emu.stats()["requests"].get("GET /_storage/{key}", {}).values()) == 1


async def test_metrics_are_parsed_from_metadata(app: AsyncApplication) -> None:
    result = await app.new_run_with_result({"m": 1}, polling_options=FAST)
    info = await app.run_metadata(result.id)
    assert info.metadata.metrics == {"value": result.output["value"]}
    assert info.metadata.statistics == {"result": {"value": result.output["value"]}}


async def test_sdk_argument_names(app: AsyncApplication, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text("a,b\n")
    result = await app.new_run_with_result(
        input_dir_path=tmp_path / "in", output_dir_path=tmp_path / "out", polling_options=FAST
    )
    assert (tmp_path / "out" / "result.json").exists()
    again = await app.run_result(result.id, output_dir_path=tmp_path / "again")
    assert again.output["output_dir"] == str(tmp_path / "again")
    with pytest.raises(ConfigError):
        await app.run_result(result.id, output_dir=tmp_path, output_dir_path=tmp_path)
    with pytest.raises(ConfigError):
        await app.new_run(dir_path=tmp_path / "in", input_dir_path=tmp_path / "in")
    succeeded = [r.id async for r in app.list_runs(status="succeeded")]
    assert succeeded == [result.id]


# ---------------------------------------------------------------- live logs


async def test_live_logs_follow_tokens_and_server_hints(emu: Emulator) -> None:
    pauses: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(seconds)

    options = PollingOptions(initial_delay=0.0, max_delay=5.0)
    async with fast_client(emu.url) as client:
        app = AsyncApplication(client.transport, "test-app", sleep=recording_sleep)
        # 200 simulated seconds = 1 s here: the first poll always sees the run unfinished.
        run_id = await app.new_run({"l": 1}, options={"emulator.duration": "200"})
        lines = [entry.log async for entry in app.run_logs_live(run_id, options)]
    assert lines == [f"run {run_id} queued", "run started", "run succeeded"]
    polls = requests_to(emu, "GET", "/logs/live")
    assert len(polls) >= 2 and len(pauses) == len(polls)  # initial delay, then one per poll
    assert pauses[1:] == [0.05] * (len(polls) - 1)  # the emulator's next_available_in_seconds
    assert polls[0]["query"] == {} and all("since" in p["query"] for p in polls[1:])
    assert options.sleep_duration_func is None  # the caller's options are never changed


async def test_live_logs_since_a_token_and_sorted_list(app: AsyncApplication) -> None:
    result = await app.new_run_with_result({"l": 2}, polling_options=FAST)
    later = [e.log async for e in app.run_logs_live(result.id, since="1")]
    assert later == ["run started", "run succeeded"]
    seen: list[str] = []
    logs = await app.run_logs_with_polling(result.id, log_func=lambda e: seen.append(e.log))
    assert [e.log for e in logs] == seen == [f"run {result.id} queued", *later]


async def test_live_logs_bounded_by_max_tries(app: AsyncApplication, emu: Emulator) -> None:
    run_id = await app.new_run({"l": 3}, options={"emulator.duration": "3600"})
    options = PollingOptions(initial_delay=0.0, max_tries=3)
    with pytest.raises(PollingTimeoutError):
        async for _ in app.run_logs_live(run_id, options):
            pass
    assert len(requests_to(emu, "GET", "/logs/live")) == 3
