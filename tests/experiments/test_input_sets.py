"""The official SDK's input set calls on the emulator: from runs, from managed inputs, from an
instance's runs in a time window; get, list, update, delete; and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import POLL, api, builtin_value

SETS = "/v1/applications/exp-app/experiments/inputsets"


def made_runs(app: cloud.Application, count: int, instance: str = "devint") -> list[str]:
    ids = [app.new_run(input={"x": i}, instance_id=instance) for i in range(count)]
    for run_id in ids:
        app.run_result_with_polling(run_id, polling_options=POLL)
    return ids


def test_input_set_from_runs_holds_their_inputs(app: cloud.Application) -> None:
    run_ids = made_runs(app, 3)
    made = app.new_input_set(id="from-runs", name="three", run_ids=run_ids)
    assert (made.id, made.name, made.app_id) == ("from-runs", "three", "exp-app")
    assert len(made.input_ids) == 3 == len(made.inputs)
    # Each input is a managed input made from one run, holding that run's input.
    assert [i.run_id for i in made.inputs] == run_ids
    for index, input_id in enumerate(made.input_ids):
        again = app.new_run_with_result(managed_input_id=input_id, polling_options=POLL)
        assert again.output is not None
        assert again.output["value"] == pytest.approx(builtin_value({"x": index}))
    assert {i.id for i in app.list_managed_inputs()} >= set(made.input_ids)
    got = app.input_set("from-runs")
    assert got.input_ids == made.input_ids and got.name == "three"


def test_input_set_from_managed_inputs_and_its_lifecycle(app: cloud.Application) -> None:
    run_ids = made_runs(app, 2)
    managed = [app.new_managed_input(id=f"m{i}", run_id=r) for i, r in enumerate(run_ids)]
    made = app.new_input_set(id="from-inputs", inputs=managed, description="d")
    assert made.input_ids == ["m0", "m1"] and made.description == "d"
    app.new_input_set(id="second", inputs=managed[:1])
    app.new_input_set(id="third", inputs=managed[1:])
    # Three sets over pages of two; newest first; and without paging.
    assert [s.id for s in app.list_input_sets()] == ["third", "second", "from-inputs"]
    assert len(app.list_input_sets(no_pagination=True)) == 3
    updated = app.update_input_set("from-inputs", name="renamed", inputs=managed[:1])
    assert (updated.name, updated.input_ids, updated.description) == ("renamed", ["m0"], "d")
    app.delete_input_set("from-inputs")
    with pytest.raises(requests.HTTPError) as caught:
        app.input_set("from-inputs")
    answer = caught.value.response
    assert answer is not None and answer.status_code == 404
    assert "from-inputs" in answer.json()["error"]
    assert app.managed_input("m0").id == "m0"  # the inputs stay


def test_input_set_from_an_instance_in_a_time_window(app: cloud.Application) -> None:
    start = datetime.now(UTC) - timedelta(seconds=5)
    made_runs(app, 2, instance="other")
    newest = made_runs(app, 3)
    end = datetime.now(UTC) + timedelta(seconds=5)
    made = app.new_input_set(
        id="window", instance_id="devint", start_time=start, end_time=end, maximum_runs=2
    )
    # The two newest succeeded runs of devint, not the other instance's.
    assert [i.run_id for i in made.inputs] == newest[::-1][:2]
    everything = app.new_input_set(id="all", start_time=start, end_time=end)
    assert len(everything.input_ids) == 3  # devint (no default instance) and no maximum


def test_refusals_name_what_is_wrong(app: cloud.Application, emu: ThreadedEmulator) -> None:
    made_runs(app, 1)
    missing_run = api(emu.url, "POST", SETS, {"id": "s1", "name": "s1", "run_ids": ["run-nope"]})
    assert missing_run.status_code == 404 and "run-nope" in missing_run.json()["error"]
    missing_input = api(emu.url, "POST", SETS, {"id": "s2", "inputs": [{"id": "gone"}]})
    assert missing_input.status_code == 404 and "gone" in missing_input.json()["error"]
    nothing = api(emu.url, "POST", SETS, {"id": "s3"})
    assert nothing.status_code == 400 and "run_ids" in nothing.json()["error"]
    future = datetime.now(UTC) + timedelta(hours=1)
    empty = api(
        emu.url,
        "POST",
        SETS,
        {"id": "s4", "instance_id": "devint", "start_time": future.isoformat()},
    )
    assert empty.status_code == 400 and "no succeeded run" in empty.json()["error"]
    assert app.list_input_sets() == []
    assert emu.stats()["experiments"]["input_sets"] == 0
