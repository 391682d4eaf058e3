"""The official SDK (nextmv 1.13.0) drives the emulator's managed inputs, run input/output,
metrics and the runs status filter (fixtures `emu` and `app`: conftest.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import nextmv
import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

APP_ID = "conf-app"
INPUTS = "/v1/applications/{app_id}/inputs"
POLL = nextmv.PollingOptions(
    initial_delay=0.02, delay=0.02, backoff=0, jitter=0, max_delay=0.1, max_duration=30
)


def canonical_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def uploaded(app: cloud.Application, data: dict[str, Any]) -> str:
    target = app.upload_url()
    app.upload_data(upload_url=target, data=data)
    return target.upload_id


def test_managed_input_from_an_upload_is_stored_once_for_many_runs(
    app: cloud.Application, emu: ThreadedEmulator
) -> None:
    payload = {"blob": "q" * 100_000, "n": 7}
    managed = app.new_managed_input(id="big-input", upload_id=uploaded(app, payload))
    assert (managed.id, managed.name) == ("big-input", "big-input")
    assert managed.format is not None
    stored = emu.stats()["bytes_stored"]
    run_ids = [
        app.new_run(managed_input_id="big-input", options={"seed": str(i)}) for i in range(3)
    ]
    for run_id in run_ids:
        result = app.run_result_with_polling(run_id, polling_options=POLL)
        assert result.output is not None
        assert result.output["input_digest"] == canonical_digest(payload)
        assert app.run_input(run_id) == payload
    posts = [
        r
        for r in emu.stats()["recent_requests"]
        if r["method"] == "POST" and r["path"].endswith("/runs")
    ]
    assert [r["json"]["input_id"] for r in posts] == ["big-input"] * 3
    # The runs read the managed input's object: nothing new is stored for their inputs.
    assert emu.stats()["bytes_stored"] - stored < 3 * 1000  # three small outputs at most
    assert emu.stats()["managed_inputs"] == 1


def test_managed_input_from_a_run_and_its_lifecycle(app: cloud.Application) -> None:
    payload = {"k": [1, 2, 3]}
    first = app.new_run_with_result(input=payload, polling_options=POLL)
    managed = app.new_managed_input(run_id=first.id, name="from run", description="d")
    assert managed.run_id == first.id and managed.upload_id is None
    again = app.new_run_with_result(managed_input_id=managed.id, polling_options=POLL)
    assert again.output is not None and first.output is not None
    assert again.output["input_digest"] == first.output["input_digest"]
    assert app.managed_input(managed.id).name == "from run"
    renamed = app.update_managed_input(managed.id, name="renamed")
    assert renamed.name == "renamed" and renamed.description == "d"
    app.delete_managed_input(managed.id)
    with pytest.raises(requests.HTTPError) as caught:
        app.managed_input(managed.id)
    assert caught.value.response.status_code == 404
    # The deleted input's run still has its input.
    assert app.run_input(again.id) == payload


def test_list_managed_inputs_crosses_pages(app: cloud.Application, emu: ThreadedEmulator) -> None:
    upload_id = uploaded(app, {"x": 1})
    made = [app.new_managed_input(id=f"in-{i}", upload_id=upload_id).id for i in range(12)]
    listed = app.list_managed_inputs()
    assert [m.id for m in listed] == made[::-1]
    assert emu.stats()["requests"]["GET " + INPUTS] == {"200": 3}  # pages of 5
    assert [m.id for m in app.list_managed_inputs(no_pagination=True)] == made[::-1]


def test_managed_input_refusals(app: cloud.Application) -> None:
    with pytest.raises(requests.HTTPError) as missing:
        app.new_managed_input(upload_id="never-uploaded")
    assert missing.value.response.status_code == 400
    app.new_managed_input(id="dup", upload_id=uploaded(app, {"x": 1}))
    with pytest.raises(requests.HTTPError) as duplicate:
        app.new_managed_input(id="dup", upload_id=uploaded(app, {"x": 2}))
    assert duplicate.value.response.status_code == 409
    with pytest.raises(requests.HTTPError) as unknown:
        app.new_run(managed_input_id="no-such-input")
    assert unknown.value.response.status_code == 404


def test_failed_run_output_and_metrics(app: cloud.Application) -> None:
    payload = {"x": 1}
    run_id = app.new_run(input=payload, options={"emulator.fail": "infeasible"})
    info = app.run_result_with_polling(run_id, polling_options=POLL)
    assert info.metadata.status_v2 == nextmv.StatusV2.failed
    output = app.run_output(run_id)
    assert output == {
        "input_digest": canonical_digest(payload),
        "options": {"emulator.fail": "infeasible"},
        "error": "infeasible",
    }
    assert app.run_information(run_id).metadata.metrics is None


def test_metrics_and_statistics_in_metadata(app: cloud.Application) -> None:
    result = app.new_run_with_result(input={"m": 2}, polling_options=POLL)
    assert result.output is not None
    value = result.output["value"]
    metadata = app.run_information(result.id).metadata
    assert metadata.metrics == {"value": value}
    assert metadata.statistics == {"result": {"value": value}}
    assert app.run_output(result.id) == result.output


def test_large_input_and_output_through_urls(app: cloud.Application, emu: ThreadedEmulator) -> None:
    payload = {"blob": "y" * (5 * 2**20 + 10)}
    run_id = app.new_run(input=payload, options={"emulator.output_bytes": str(6 * 2**20)})
    app.run_result_with_polling(run_id, polling_options=POLL)
    assert app.run_input(run_id) == payload
    output = app.run_output(run_id)
    assert output is not None and output["input_digest"] == canonical_digest(payload)
    urls = [
        r["path"].rsplit("/", 1)[-1]
        for r in emu.stats()["recent_requests"]
        if r["query"].get("format") == "url"
    ]
    assert {"input", "output"} <= set(urls)


def test_list_runs_by_status(app: cloud.Application, emu: ThreadedEmulator) -> None:
    done = app.new_run_with_result(input={"a": 1}, polling_options=POLL).id
    long = app.new_run(input={"a": 2}, options={"emulator.duration": "3600"})
    assert [r.id for r in app.list_runs(status=nextmv.StatusV2.succeeded)] == [done]
    # The emulator also filters on the server (GET runs?status=...), before paging.
    for i in range(6):
        app.new_run(input={"b": i}, options={"emulator.duration": "0"})
    app.run_result_with_polling(app.new_run(input={"c": 1}), polling_options=POLL)
    url = f"{emu.url}/v1/applications/{APP_ID}/runs"
    headers = {"Authorization": "Bearer test-key"}
    answer = requests.get(url, params={"status": "running"}, headers=headers, timeout=10).json()
    assert [r["id"] for r in answer["runs"]] == [long]
    paged = requests.get(
        url, params={"status": "succeeded", "pagereturn": "true"}, headers=headers, timeout=10
    ).json()
    assert len(paged["runs"]) == 5 and paged["next_page_token"]
    assert all(r["status_v2"] == "succeeded" for r in paged["runs"])
