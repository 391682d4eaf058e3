"""The aiohttp application: the /v1 run API, the storage URLs, and /_emulator endpoints."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from asyncrun.emulator import guard, views
from asyncrun.emulator.app_routes import add_app_routes
from asyncrun.emulator.config import INLINE_LIMIT, EmulatorConfig
from asyncrun.emulator.experiment_routes import add_experiment_routes
from asyncrun.emulator.input_routes import add_input_routes
from asyncrun.emulator.redirects import add_redirect_routes
from asyncrun.emulator.runs import MULTI_FILE_TYPES, WITH_OUTPUT, Run
from asyncrun.emulator.state import STATE, EmulatorState
from asyncrun.emulator.storage_routes import add_storage_routes
from asyncrun.emulator.submit import upload_key
from asyncrun.emulator.wire import (
    ApiError,
    decode_page_token,
    encode_page_token,
    json_bytes,
    json_response,
    raw_json_response,
)

MAX_BODY = INLINE_LIMIT + 2**20
LIVE_LOG_HINT = 0.05
_APP = "/v1/applications/{app_id}"
_RUN = _APP + "/runs/{run_id}"


def build_app(config: EmulatorConfig, state: EmulatorState | None = None) -> web.Application:
    state = state if state is not None else EmulatorState(config)
    # Room for an inline body of 5 MiB plus options; bigger bodies are refused with 413.
    app = web.Application(client_max_size=MAX_BODY, middlewares=[guard.middleware])
    app[STATE] = state
    r = app.router
    r.add_post(_APP + "/runs", create_run)
    r.add_get(_APP + "/runs", list_runs)
    r.add_post(_APP + "/runs/uploadurl", upload_url)
    r.add_get(_RUN + "/metadata", run_metadata)
    r.add_get(_RUN, run_result)
    r.add_get(_RUN + "/output", run_output)
    r.add_get(_RUN + "/input", run_input)
    r.add_get(_RUN + "/logs", run_logs)
    r.add_get(_RUN + "/logs/live", run_logs_live)
    r.add_patch(_RUN + "/cancel", cancel_run)
    r.add_delete(_RUN, delete_run)
    r.add_get("/_emulator/stats", emulator_stats)
    r.add_post("/_emulator/reset-stats", reset_stats)
    r.add_get("/_emulator/runs", emulator_runs)
    r.add_get("/_emulator/apps", emulator_apps)
    add_app_routes(app)
    add_storage_routes(app)
    add_input_routes(app)
    add_experiment_routes(app)
    add_redirect_routes(app)
    return app


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _run(request: web.Request) -> Run:
    state = _state(request)
    state.apps.app_for_runs(request.match_info["app_id"], create=False)
    run = state.store.get(request.match_info["app_id"], request.match_info["run_id"])
    if run is None:
        raise ApiError(404, f"run {request.match_info['run_id']!r} not found")
    return run


# -- runs ------------------------------------------------------------------------------------


async def create_run(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise ApiError(413, "request body is larger than 5 MiB: upload the input instead")
    body = await request.read()
    run = await state.create_run(
        request.match_info["app_id"], body, request.query.get("instance_id")
    )
    return json_response({"run_id": run.id})


async def run_metadata(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    run = _run(request)
    return raw_json_response(json_bytes(await _information(state, run, time.monotonic())))


async def _information(state: EmulatorState, run: Run, now: float) -> dict[str, Any]:
    if run.status(now) not in WITH_OUTPUT:
        return views.information(run, now, 0)
    return views.information(run, now, await state.output_size(run), state.metrics(run))


async def run_result(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    run = _run(request)
    now = time.monotonic()
    info = await _information(state, run, now)
    status = info["metadata"]["status_v2"]
    if status == "failed":
        info["error_log"] = {"error": info["metadata"]["error"], "stdout": "", "stderr": ""}
    if status != "succeeded":
        info["output"] = None
        return json_response(info)
    if request.query.get("format") == "url":
        key = await state.output_object(run)
        info["output"] = {"url": state.storage.presign(_base_url(request), "GET", key)}
        return json_response(info)
    if run.output_type in MULTI_FILE_TYPES:
        info["output"] = None
        return json_response(info)
    return await _info_with_output(request, state, run, info)


async def _info_with_output(
    request: web.Request, state: EmulatorState, run: Run, info: dict[str, Any]
) -> web.StreamResponse:
    """The run result with its JSON output inline, streamed from disk when large."""
    head = json_bytes(info)[:-1] + b',"output":'
    small = await state.small_output(run)
    if small is not None:
        return raw_json_response(head + small + b"}")
    key = await state.output_object(run)
    path = state.storage.path(key)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(head) + state.storage.size(key) + 1
    await response.prepare(request)
    await response.write(head)
    with path.open("rb") as source:
        while chunk := source.read(256 * 1024):
            await response.write(chunk)
    await response.write(b"}")
    await response.write_eof()
    return response


async def run_output(request: web.Request) -> web.StreamResponse:
    """The output of a succeeded run, or what a failed run wrote before failing."""
    state = _state(request)
    run = _run(request)
    status = run.status(time.monotonic())
    if status not in WITH_OUTPUT:
        raise ApiError(404, f"run {run.id!r} has no output (status {status})")
    if request.query.get("format") == "url":
        key = await state.output_object(run)
        return json_response({"url": state.storage.presign(_base_url(request), "GET", key)})
    if run.output_type in MULTI_FILE_TYPES:
        raise ApiError(400, "the output is multi-file: ask for it with ?format=url")
    small = await state.small_output(run)
    if small is not None:
        return raw_json_response(small)
    key = await state.output_object(run)
    return web.FileResponse(state.storage.path(key), headers={"Content-Type": "application/json"})


async def run_input(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    run = _run(request)
    if request.query.get("format") == "url":
        key = state.input_object_key(run)
        if not state.storage.exists(key):
            state.storage.put_bytes(key, json_bytes(run.inline_input))
        return json_response({"url": state.storage.presign(_base_url(request), "GET", key)})
    if run.input_key is None:
        return raw_json_response(json_bytes(run.inline_input))
    return web.FileResponse(state.storage.path(run.input_key))


async def run_logs(request: web.Request) -> web.StreamResponse:
    run = _run(request)
    return json_response({"log": "\n".join(_log_lines(run, time.monotonic()))})


async def run_logs_live(request: web.Request) -> web.StreamResponse:
    """Log lines after the `since` token, with the status and a hint for the next poll."""
    run = _run(request)
    now = time.monotonic()
    entries = _log_entries(run, now)
    since = request.query.get("since", "0")
    start = int(since) if since.isdigit() else 0
    return json_response(
        {
            "items": [{"timestamp": t, "log": line} for t, line in entries[start:]],
            "status_v2": run.status(now),
            "next_available_in_seconds": LIVE_LOG_HINT,
            "next_page_token": str(len(entries)),
        }
    )


def _log_lines(run: Run, now: float) -> list[str]:
    return [f"{stamp} {line}" for stamp, line in _log_entries(run, now)]


def _log_entries(run: Run, now: float) -> list[tuple[str, str]]:
    """(timestamp, text) of every log line so far: lifecycle events and app stderr."""
    status, start, end = run.timeline(now)
    entries = [(views.iso(run.created_wall), f"run {run.id} queued")]
    if start is not None:
        started = views.iso(run.wall(start))
        entries.append((started, "run started"))
        entries.extend((started, line) for line in run.log_lines)
    if end is not None:
        ended = views.iso(run.wall(end))
        if status == "failed":
            entries.append((ended, f"error: {run.fail_message}"))
        entries.append((ended, f"run {status}"))
    return entries


async def cancel_run(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    run = _run(request)
    if run.cancel(time.monotonic()):
        state.commands.kill(run)
    return json_response({})


async def delete_run(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    run = _run(request)
    if run.cancel(time.monotonic()):
        state.commands.kill(run)
    state.forget(run)
    return json_response({})


async def list_runs(request: web.Request) -> web.StreamResponse:
    """Runs newest first; `status=` keeps the runs in that status_v2 (before paging)."""
    state = _state(request)
    app_id = request.match_info["app_id"]
    state.apps.app_for_runs(app_id, create=False)
    now = time.monotonic()
    status = request.query.get("status")
    if request.query.get("pagereturn") != "true":
        runs = _with_status(state.store.newest_first(app_id, None, None), status, now)
        return json_response({"runs": [views.list_item(r, now) for r in runs]})
    before = decode_page_token(request.query.get("pagetoken"), "seq")
    size = state.config.page_size
    if status is None:
        page = state.store.newest_first(app_id, before, size)
    else:
        page = _with_status(state.store.newest_first(app_id, before, None), status, now)[:size]
    token = ""
    if len(page) == size and state.store.has_older(app_id, page[-1].seq):
        token = encode_page_token("seq", page[-1].seq)
    return json_response(
        {"runs": [views.list_item(r, now) for r in page], "next_page_token": token}
    )


def _with_status(runs: list[Run], status: str | None, now: float) -> list[Run]:
    return runs if status is None else [r for r in runs if r.status(now) == status]


async def upload_url(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    state.apps.app_for_runs(request.match_info["app_id"], create=False)
    upload_id = state.new_upload_id()
    url = state.storage.presign(_base_url(request), "PUT", upload_key(upload_id))
    return json_response({"upload_id": upload_id, "upload_url": url})


# -- /_emulator ------------------------------------------------------------------------------


async def emulator_stats(request: web.Request) -> web.StreamResponse:
    return json_response(await _state(request).full_snapshot())


async def reset_stats(request: web.Request) -> web.StreamResponse:
    _state(request).reset_stats()
    return json_response({})


async def emulator_runs(request: web.Request) -> web.StreamResponse:
    return json_response(_state(request).run_timeline(time.monotonic()))


async def emulator_apps(request: web.Request) -> web.StreamResponse:
    return json_response(_state(request).apps.snapshot())
