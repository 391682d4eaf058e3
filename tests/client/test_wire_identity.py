"""Same calls, same wire: the official SDK (nextmv.cloud, sync) and asyncrun drive one emulator,
and its request log must show the same (method, path, query, JSON body) for each call."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import nextmv
import pytest
from nextmv import cloud

import asyncrun
from asyncrun.emulator import ThreadedEmulator

from .conftest import KEY, fast_client

APP = "test-app"
Wire = list[tuple[str, str, tuple[tuple[str, str], ...], Any]]


def wire(emu: ThreadedEmulator, ids: dict[str, str]) -> Wire:
    """The request log as comparable tuples, with generated ids replaced by placeholders."""
    out: Wire = []
    for entry in emu.stats()["recent_requests"]:
        path = _normalise(entry["path"], ids)
        body = _normalise_json(entry["json"], ids)
        # presigned URLs carry an expiry time that may tick between the two clients
        query = {k: ("<expires>" if k == "expires" else v) for k, v in entry["query"].items()}
        out.append((entry["method"], path, tuple(sorted(query.items())), body))
    return out


def _normalise(text: str, ids: dict[str, str]) -> str:
    for raw, label in ids.items():
        text = text.replace(raw, label)
    return re.sub(r"/_storage/[^/?]+", "/_storage/<key>", text)


def _normalise_json(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _normalise_json(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_json(v, ids) for v in value]
    if isinstance(value, str):
        return _normalise(value, ids)
    return value


def both(
    emu: ThreadedEmulator,
    sdk_call: Callable[[cloud.Application], Any],
    our_call: Callable[[asyncrun.AsyncApplication], Awaitable[Any]],
) -> tuple[Wire, Wire, Any, Any]:
    """Run the SDK call, then ours, each on a clean request log; return both logs."""
    sdk_app = cloud.Application(client=cloud.Client(api_key=KEY, url=emu.url), id=APP)
    emu.reset_stats()
    sdk_value = sdk_call(sdk_app)
    sdk_ids = _ids(emu)
    sdk_wire = wire(emu, sdk_ids)

    async def ours() -> Any:
        async with fast_client(emu.url) as client:
            return await our_call(client.application(APP))

    emu.reset_stats()
    our_value = asyncio.run(ours())
    our_wire = wire(emu, _ids(emu))
    return sdk_wire, our_wire, sdk_value, our_value


def _ids(emu: ThreadedEmulator) -> dict[str, str]:
    """Upload ids seen in the log, numbered in order of appearance."""
    ids: dict[str, str] = {}
    for entry in emu.stats()["recent_requests"]:
        body = entry["json"] if isinstance(entry["json"], dict) else {}
        upload = body.get("upload_id")
        if isinstance(upload, str) and upload not in ids:
            ids[upload] = f"<upload-{len(ids)}>"
    return ids


NEW_RUN_CASES: list[tuple[str, dict[str, Any]]] = [
    ("dict", {"input": {"x": 1, "y": [1, 2]}}),
    (
        "dates, name, description, options",
        {
            "input": {"x": 1, "when": date(2024, 1, 2)},
            "name": "nm",
            "description": "ds",
            "options": {"a": 1, "b": "x", "c": {"k": [1]}, "d": True},
        },
    ),
    (
        "instance and configuration",
        {
            "input": {"x": 1},
            "instance_id": "latest",
            "configuration": {
                "execution_class": "6c9500mb870s",
                "queuing": {"priority": 3, "disabled": False},
            },
        },
    ),
    (
        "configuration without format",
        {"input": {"x": 1}, "configuration": {"secrets_collection_id": "s"}},
    ),
    ("batch experiment", {"input": {"x": 2}, "batch_experiment_id": "exp-1", "name": "n"}),
    ("empty options", {"input": {"x": 3}, "options": {}}),
    ("text input", {"input": "a,b\n1,2\n"}),
    ("unicode", {"input": {"s": "héllo ✓ 漢字"}}),
]


def _sdk_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if isinstance(out.get("configuration"), dict):
        out["configuration"] = nextmv.RunConfiguration.from_dict(out["configuration"])
    return out


@pytest.mark.parametrize(("label", "kwargs"), NEW_RUN_CASES, ids=[c[0] for c in NEW_RUN_CASES])
def test_new_run_identical(
    emulator_thread: ThreadedEmulator, label: str, kwargs: dict[str, Any]
) -> None:
    sdk, ours, _, _ = both(
        emulator_thread,
        lambda app: app.new_run(**_sdk_kwargs(kwargs)),
        lambda app: app.new_run(**kwargs),
    )
    assert ours == sdk
    assert sdk[-1][0] == "POST"


def test_configuration_object_identical(emulator_thread: ThreadedEmulator) -> None:
    raw: dict[str, Any] = {
        "run_type": {"type": "standard"},
        "queuing": {"disabled": True},
        "integration_id": "i",
    }
    sdk, ours, _, _ = both(
        emulator_thread,
        lambda app: app.new_run(input={"a": 1}, configuration=nextmv.RunConfiguration(**raw)),
        lambda app: app.new_run({"a": 1}, configuration=asyncrun.RunConfiguration(**raw)),
    )
    assert ours == sdk


def test_input_object_identical(emulator_thread: ThreadedEmulator) -> None:
    sdk, ours, _, _ = both(
        emulator_thread,
        lambda app: app.new_run(input=nextmv.Input(data={"a": 1})),
        lambda app: app.new_run(asyncrun.Input(data={"a": 1})),
    )
    assert ours == sdk


def _finished_run(emu: ThreadedEmulator, options: dict[str, str] | None = None) -> str:
    app = cloud.Application(client=cloud.Client(api_key=KEY, url=emu.url), id=APP)
    run_id: str = app.new_run(input={"q": 1}, options=options, name="fixture-run")
    for _ in range(400):
        if app.run_information(run_id).metadata.run_is_finalized():
            return run_id
        time.sleep(0.01)
    raise AssertionError("run did not finish")


def test_read_calls_identical(emulator_thread: ThreadedEmulator) -> None:
    run_id = _finished_run(emulator_thread)
    pairs: list[tuple[Callable[[cloud.Application], Any], Callable[[Any], Awaitable[Any]]]] = [
        (lambda a: a.run_information(run_id), lambda a: a.run_metadata(run_id)),
        (lambda a: a.run_result(run_id, output_dir_path=None), lambda a: a.run_result(run_id)),
        (lambda a: a.run_logs(run_id), lambda a: a.run_logs(run_id)),
        (lambda a: a.upload_url(), lambda a: a.upload_url()),
        (lambda a: a.list_runs(), lambda a: _collect(a.list_runs())),
    ]
    for sdk_call, our_call in pairs:
        sdk, ours, _, _ = both(emulator_thread, sdk_call, our_call)
        assert ours == sdk


def test_result_values_match(emulator_thread: ThreadedEmulator) -> None:
    run_id = _finished_run(emulator_thread)
    _, _, sdk_value, our_value = both(
        emulator_thread,
        lambda a: a.run_result(run_id, output_dir_path=None),
        lambda a: a.run_result(run_id),
    )
    assert our_value.output == sdk_value.output
    assert our_value.metadata.status_v2 == sdk_value.metadata.status_v2.value
    assert our_value.console_url == sdk_value.console_url


def test_cancel_and_delete_identical(emulator_thread: ThreadedEmulator) -> None:
    app = cloud.Application(client=cloud.Client(api_key=KEY, url=emulator_thread.url), id=APP)
    run_id = app.new_run(input={"a": 1}, options={"emulator.duration": "10000"})
    sdk, ours, _, _ = both(
        emulator_thread, lambda a: a.cancel_run(run_id), lambda a: a.cancel_run(run_id)
    )
    assert ours == sdk and ours[0][0] == "PATCH"
    sdk, ours, _, _ = both(
        emulator_thread, lambda a: a.delete_run(run_id), lambda a: _delete_ignoring_404(a, run_id)
    )
    assert ours[0][:2] == sdk[0][:2] == ("DELETE", f"/v1/applications/{APP}/runs/{run_id}")


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


async def _delete_ignoring_404(app: asyncrun.AsyncApplication, run_id: str) -> None:
    # the SDK deleted it first; the request is what we compare
    with contextlib.suppress(asyncrun.NotFoundError):
        await app.delete_run(run_id)


def test_large_output_costs_fewer_requests(emulator_thread: ThreadedEmulator) -> None:
    run_id = _finished_run(emulator_thread, {"emulator.output_bytes": str(6 * 2**20)})
    sdk, ours, sdk_value, our_value = both(
        emulator_thread,
        lambda a: a.run_result(run_id, output_dir_path=None),
        lambda a: a.run_result(run_id),
    )
    assert our_value.output == sdk_value.output
    assert len(sdk) == 5 and len(ours) == 3  # metadata + runs/{id}?format=url + download
    assert ours == [sdk[0], sdk[1], sdk[4]]


def test_managed_input_calls_identical(emulator_thread: ThreadedEmulator) -> None:
    sdk_app = cloud.Application(client=cloud.Client(api_key=KEY, url=emulator_thread.url), id=APP)
    target = sdk_app.upload_url()
    sdk_app.upload_data(upload_url=target, data={"shared": [1, 2, 3]})
    upload = target.upload_id

    def sdk_lifecycle(app: cloud.Application) -> Any:
        app.new_managed_input(id="mi-a", name="n", description="d", upload_id=upload)
        app.update_managed_input("mi-a", name="renamed")
        app.list_managed_inputs()
        run_id = app.new_run(managed_input_id="mi-a", options={"seed": "1"})
        app.delete_managed_input("mi-a")
        return run_id

    async def our_lifecycle(app: asyncrun.AsyncApplication) -> Any:
        await app.new_managed_input(id="mi-a", name="n", description="d", upload_id=upload)
        await app.update_managed_input("mi-a", name="renamed")
        await _collect(app.list_managed_inputs())
        run_id = await app.new_run(managed_input_id="mi-a", options={"seed": "1"})
        await app.delete_managed_input("mi-a")
        return run_id

    sdk, ours, _, _ = both(emulator_thread, sdk_lifecycle, our_lifecycle)
    assert _untimed(ours) == _untimed(sdk)  # the PUT echoes the input's own timestamps
    assert [(method, path.rsplit("/", 1)[-1]) for method, path, _, _ in ours] == [
        ("POST", "inputs"),
        ("GET", "mi-a"),
        ("PUT", "mi-a"),
        ("GET", "inputs"),
        ("GET", "mi-a"),
        ("POST", "runs"),
        ("DELETE", "mi-a"),
    ]


def test_run_input_and_output_identical(emulator_thread: ThreadedEmulator) -> None:
    run_id = _finished_run(emulator_thread)
    pairs: list[tuple[Callable[[cloud.Application], Any], Callable[[Any], Awaitable[Any]]]] = [
        (lambda a: a.run_input(run_id), lambda a: a.run_input(run_id)),
        (lambda a: a.run_output(run_id), lambda a: a.run_output(run_id)),
    ]
    for sdk_call, our_call in pairs:
        sdk, ours, sdk_value, our_value = both(emulator_thread, sdk_call, our_call)
        assert ours == sdk
        assert our_value == sdk_value


def _untimed(log: Wire) -> Wire:
    times = ("created_at", "updated_at")
    return [
        (m, p, q, {k: "<time>" if k in times else v for k, v in b.items()} if b else b)
        for m, p, q, b in log
    ]
