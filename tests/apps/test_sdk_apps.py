"""The official SDK (nextmv 1.13.0), unmodified, drives every custom-app endpoint of the
emulator: applications, push, versions, instances, and runs sent to an instance."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import nextmv
import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import EXAMPLE, KEY, POLL, tagged_app

KNAPSACK_INPUT = json.loads((EXAMPLE / "input.json").read_text())


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    with emulator_thread_factory(page_size=2) as running:
        yield running


@pytest.fixture
def client(emu: ThreadedEmulator) -> cloud.Client:
    return cloud.Client(api_key=KEY, url=emu.url)


def test_application_create_get_update_list_delete(client: cloud.Client) -> None:
    app = cloud.Application.new(client=client, id="knap-sack", name="Knap", description="dp")
    assert (app.id, app.name, app.description) == ("knap-sack", "Knap", "dp")
    assert app.created_at is not None and app.default_instance_id is None
    assert cloud.Application.exists(client=client, id="knap-sack")
    assert not cloud.Application.exists(client=client, id="never-made")
    for other in ("app-b", "app-c"):
        cloud.Application.new(client=client, id=other)
    # Three apps over pages of two (the SDK follows next_page_token), and without paging.
    assert [a.id for a in cloud.list_applications(client)] == ["app-b", "app-c", "knap-sack"]
    assert len(cloud.list_applications(client, no_pagination=True)) == 3
    got = cloud.Application.get(client=client, id="knap-sack")
    assert got.name == "Knap"
    updated = got.update(name="Knapsack", description="0/1 knapsack")
    assert (updated.name, updated.description) == ("Knapsack", "0/1 knapsack")
    assert cloud.Application.new(client=client, id="knap-sack", exist_ok=True).name == "Knapsack"
    updated.delete()
    assert not cloud.Application.exists(client=client, id="knap-sack")
    with pytest.raises(requests.HTTPError) as err:
        cloud.Application.new(client=client, id="app-b")
    assert err.value.response.status_code == 409
    assert "already exists" in err.value.response.json()["error"]


def test_push_example_then_versions_instances_and_runs(
    client: cloud.Client, emu: ThreadedEmulator
) -> None:
    app = cloud.Application.new(client=client, id="knapsack")
    app.push(app_dir=str(EXAMPLE))
    # devint (alias latest) runs the last push: the example model, unmodified.
    result = app.new_run_with_result(
        input=KNAPSACK_INPUT, instance_id="latest", polling_options=POLL
    )
    assert result.metadata.status_v2 == nextmv.StatusV2.succeeded
    assert result.output is not None
    assert result.output["solution"] == {"items": ["map", "water", "sandwich"], "value": 65}
    assert result.output["statistics"]["result"]["custom"]["status"] == "optimal"
    assert result.metadata.application_instance_id == "devint"

    version = app.new_version(id="v1", name="first", description="the DP")
    assert version.executable.requirements.executable_type == "python"
    assert app.version("v1").name == "first"
    assert app.version_exists("v1") and not app.version_exists("v9")
    assert [v.id for v in app.list_versions()] == ["v1"]
    assert app.update_version("v1", description="dynamic programming").description == (
        "dynamic programming"
    )
    config = cloud.InstanceConfiguration(options={"max_items": 3})
    instance = app.new_instance(version_id="v1", id="small", configuration=config)
    assert instance.configuration.options == {"max_items": 3}
    app.new_instance(version_id="v1", id="full")
    assert app.instance_exists("small") and not app.instance_exists("nowhere")
    assert [i.id for i in app.list_instances()] == ["small", "full"]
    assert app.update_instance("full", name="Full").name == "Full"

    # The instance's options are defaults under the run's own.
    small = app.new_run_with_result(input=KNAPSACK_INPUT, instance_id="small", polling_options=POLL)
    assert small.output is not None and small.output["solution"]["value"] == 55
    assert small.output["options"]["max_items"] == 3
    assert (small.metadata.application_instance_id, small.metadata.application_version_id) == (
        "small",
        "v1",
    )
    override = app.new_run_with_result(
        input=KNAPSACK_INPUT,
        instance_id="small",
        run_options={"max_items": "2"},
        polling_options=POLL,
    )
    assert override.output is not None and override.output["solution"]["value"] == 25

    # The default instance takes runs sent without an instance id.
    app = app.update(default_instance_id="small")
    assert app.default_instance_id == "small"
    default = app.new_run_with_result(input=KNAPSACK_INPUT, polling_options=POLL)
    assert default.metadata.application_instance_id == "small"

    with pytest.raises(requests.HTTPError) as err:
        app.delete_version("v1")
    assert err.value.response.status_code == 409
    assert "used by instance(s) full, small" in err.value.response.json()["error"]
    app.delete_instance("full")
    assert not app.instance_exists("full")


def test_two_instances_on_two_versions_run_their_own_code(
    client: cloud.Client, tmp_path: Path
) -> None:
    app = cloud.Application.new(client=client, id="tagged")
    app.push(app_dir=str(tagged_app(tmp_path / "one", "one")))
    app.new_version(id="v-one")
    app.new_instance(version_id="v-one", id="stable")
    app.push(app_dir=str(tagged_app(tmp_path / "two", "two")))
    app.new_version(id="v-two")
    app.new_instance(version_id="v-two", id="candidate")
    outputs = {}
    for instance in ("stable", "candidate", "latest"):
        run = app.new_run_with_result(
            input={"x": 1}, instance_id=instance, run_options={"k": "v"}, polling_options=POLL
        )
        assert run.output is not None
        outputs[instance] = (run.output["tag"], run.metadata.application_version_id)
        assert run.output["args"] == ["-k", "v"]
    assert outputs == {
        "stable": ("one", "v-one"),
        "candidate": ("two", "v-two"),
        "latest": ("two", ""),
    }
    # The app's stderr is the run's log.
    assert "tagged app running" in app.run_logs(run.id).log
