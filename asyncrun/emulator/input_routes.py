"""Managed-input routes: `POST {app}/inputs` (from `upload_id` or `run_id`),
`GET {app}/inputs[?pagereturn=true]`, `GET/PUT/DELETE {app}/inputs/{input_id}`, and how
POST runs reads `input_id`. Shapes are the official SDK's `ManagedInput` (nextmv 1.13.0,
cloud/input_set.py, cloud/application/_managed_input.py).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from aiohttp import web

from asyncrun.emulator import default_app
from asyncrun.emulator.inputs import ManagedInput
from asyncrun.emulator.state import STATE, EmulatorState
from asyncrun.emulator.submit import (
    CONTENT_TYPES,
    read_json_body,
    text_field,
    upload_key,
)
from asyncrun.emulator.wire import ApiError, json_response, listing, raw_json_response

_APP = "/v1/applications/{app_id}"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


# ------------------------------------------------------------------------------ routes


def add_input_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(_APP + "/inputs", create_input)
    r.add_get(_APP + "/inputs", list_inputs)
    r.add_get(_APP + "/inputs/{input_id}", get_input)
    r.add_put(_APP + "/inputs/{input_id}", update_input)
    r.add_delete(_APP + "/inputs/{input_id}", delete_input)


def _found(request: web.Request) -> ManagedInput:
    item = request.app[STATE].inputs.get(
        request.match_info["app_id"], request.match_info["input_id"]
    )
    if item is None:
        raise ApiError(404, f"managed input {request.match_info['input_id']!r} not found")
    return item


async def create_input(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    app_id = request.match_info["app_id"]
    body = read_json_body(await request.read())
    upload_id, run_id = body.get("upload_id"), body.get("run_id")
    if bool(upload_id) == bool(run_id):
        raise ApiError(400, "give exactly one of upload_id or run_id")
    input_id = body.get("id") or f"input-{secrets.token_hex(8)}"
    if not isinstance(input_id, str) or not _ID_RE.match(input_id):
        raise ApiError(400, "id must be 1-100 characters of letters, digits, '.', '_' or '-'")
    if state.inputs.get(app_id, input_id) is not None:
        raise ApiError(409, f"managed input {input_id!r} already exists")
    fmt = _format(body.get("format"))
    if upload_id:
        key = _key_from_upload(state, upload_id)
    else:
        key = key_from_run(state, app_id, run_id, input_id)
    now = time.time()
    item = ManagedInput(
        id=input_id,
        app_id=app_id,
        seq=state.inputs.next_seq(),
        name=text_field(body, "name") or input_id,
        description=text_field(body, "description"),
        upload_id=upload_id or None,
        run_id=run_id or None,
        format=fmt,
        key=key,
        created=now,
        updated=now,
    )
    state.inputs.add(item)
    return json_response(item.wire())


def _format(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"input": {"type": "json"}, "output": {"type": "json"}}
    if not isinstance(raw, dict):
        raise ApiError(400, "format must be an object")
    out: dict[str, Any] = {}
    for side in ("input", "output"):
        part = raw.get(side) or {}
        kind = part.get("type", "json") if isinstance(part, dict) else None
        if kind not in CONTENT_TYPES:
            raise ApiError(400, f"format.{side}.type must be one of {sorted(CONTENT_TYPES)}")
        out[side] = {"type": kind}
    return out


def _key_from_upload(state: EmulatorState, upload_id: Any) -> str:
    if not isinstance(upload_id, str):
        raise ApiError(400, "upload_id must be a string")
    key = upload_key(upload_id)
    if not state.storage.exists(key):
        raise ApiError(400, f"upload {upload_id!r} not found: PUT the input to its URL first")
    return key


def key_from_run(state: EmulatorState, app_id: str, run_id: Any, input_id: str) -> str:
    """The run's uploaded object, or its inline input copied under inputs/ (so deleting the
    run, which removes outputs/<run id>/, leaves the managed input whole)."""
    if not isinstance(run_id, str):
        raise ApiError(400, "run_id must be a string")
    run = state.store.get(app_id, run_id)
    if run is None:
        raise ApiError(400, f"run {run_id!r} not found")
    if run.input_key is not None:
        return run.input_key
    key = f"inputs/{input_id}/input.json"
    state.storage.put_bytes(key, default_app.compact_json(run.inline_input))
    return key


async def get_input(request: web.Request) -> web.StreamResponse:
    return json_response(_found(request).wire())


async def update_input(request: web.Request) -> web.StreamResponse:
    item = _found(request)
    body = read_json_body(await request.read())
    if body.get("name") is not None:
        item.name = text_field(body, "name")
    if body.get("description") is not None:
        item.description = text_field(body, "description")
    item.updated = time.time()
    return json_response(item.wire())


async def delete_input(request: web.Request) -> web.StreamResponse:
    # The object stays: runs made from this input still read it (GET runs/{id}/input).
    request.app[STATE].inputs.remove(_found(request))
    return raw_json_response(b"{}")


async def list_inputs(request: web.Request) -> web.StreamResponse:
    """A bare list, or with `pagereturn=true` pages of {items, next_page_token} (as the SDK's
    list_managed_inputs reads them)."""
    state = request.app[STATE]
    items = state.inputs.newest_first(request.match_info["app_id"])
    return listing(request.query, items, state.config.page_size)
