"""Routes of custom apps: applications, the binary (push), versions and instances."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from asyncrun.emulator import binaries
from asyncrun.emulator.apps import Binary
from asyncrun.emulator.state import STATE, EmulatorState
from asyncrun.emulator.storage_routes import BINARY_UPLOADS
from asyncrun.emulator.wire import ApiError, Wired, json_response, listing

_APPS = "/v1/applications"
_APP = _APPS + "/{app_id}"
_VERSION = _APP + "/versions/{version_id}"
_INSTANCE = _APP + "/instances/{instance_id}"


def add_app_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(_APPS, create_app)
    r.add_get(_APPS, list_apps)
    r.add_get(_APP, get_app)
    r.add_put(_APP, update_app)
    r.add_delete(_APP, delete_app)
    r.add_get(_APP + "/binary", binary_upload_url)
    r.add_put(_APP + "/binary", activate_binary)
    r.add_post(_APP + "/versions", create_version)
    r.add_get(_APP + "/versions", list_versions)
    r.add_get(_VERSION, get_version)
    r.add_put(_VERSION, update_version)
    r.add_delete(_VERSION, delete_version)
    r.add_post(_APP + "/instances", create_instance)
    r.add_get(_APP + "/instances", list_instances)
    r.add_get(_INSTANCE, get_instance)
    r.add_put(_INSTANCE, update_instance)
    r.add_put(_INSTANCE + "/lock", lock_instance)
    r.add_delete(_INSTANCE, delete_instance)


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _app(request: web.Request) -> str:
    return request.match_info["app_id"]


def _version(request: web.Request) -> str:
    return request.match_info["version_id"]


def _instance(request: web.Request) -> str:
    return request.match_info["instance_id"]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise ApiError(400, "request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _listing(request: web.Request, items: Sequence[Wired]) -> web.Response:
    return listing(request.query, items, _state(request).config.page_size)


# -- applications ----------------------------------------------------------------------------


async def create_app(request: web.Request) -> web.StreamResponse:
    return json_response(_state(request).apps.create_app(await _body(request)).wire())


async def list_apps(request: web.Request) -> web.StreamResponse:
    return _listing(request, _state(request).apps.list_apps())


async def get_app(request: web.Request) -> web.StreamResponse:
    return json_response(_state(request).apps.app(_app(request)).wire())


async def update_app(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    return json_response(_state(request).apps.update_app(_app(request), body).wire())


async def delete_app(request: web.Request) -> web.StreamResponse:
    _state(request).apps.delete_app(_app(request))
    return json_response({})


# -- the binary ------------------------------------------------------------------------------


async def binary_upload_url(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    app = state.apps.app(_app(request))
    key = f"{BINARY_UPLOADS}{app.id}/{secrets.token_hex(8)}.tar.gz"
    app.upload_key = key
    base = f"{request.scheme}://{request.host}"
    return json_response({"upload_url": state.storage.presign(base, "PUT", key)})


async def activate_binary(request: web.Request) -> web.StreamResponse:
    """Unpack the uploaded archive once and make it the app's binary (what devint runs)."""
    state = _state(request)
    app = state.apps.app(_app(request))
    activation = binaries.parse_activation(await _body(request))
    key = app.upload_key
    if key is None or not state.storage.exists(key):
        raise ApiError(400, "no archive was uploaded: PUT it to the URL from GET .../binary first")
    binary_id = f"binary-{secrets.token_hex(6)}"
    root = state.storage.path(f"executables/{binary_id}")
    await asyncio.to_thread(binaries.unpack, state.storage.path(key), root, activation)
    state.storage.delete_prefix(key)
    binary = Binary(
        id=binary_id,
        uploaded_wall=time.time(),
        executable_type=activation.executable_type,
        runtime=activation.runtime,
        entrypoint=activation.entrypoint,
        working_directory=activation.working_directory,
        root=root,
        content_format=activation.content_format,
        input_path=activation.input_path,
        requirements=activation.requirements,
    )
    state.apps.set_binary(app, binary)
    return json_response(binary.executable())


# -- versions --------------------------------------------------------------------------------


async def create_version(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    return json_response(_state(request).apps.new_version(_app(request), body).wire())


async def list_versions(request: web.Request) -> web.StreamResponse:
    return _listing(request, _state(request).apps.list_versions(_app(request)))


async def get_version(request: web.Request) -> web.StreamResponse:
    version = _state(request).apps.version(_app(request), _version(request))
    return json_response(version.wire())


async def update_version(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    version = _state(request).apps.update_version(_app(request), _version(request), body)
    return json_response(version.wire())


async def delete_version(request: web.Request) -> web.StreamResponse:
    _state(request).apps.delete_version(_app(request), _version(request))
    return json_response({})


# -- instances -------------------------------------------------------------------------------


async def create_instance(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    instance = _state(request).apps.new_instance(_app(request), body)
    return json_response(instance.wire())


async def list_instances(request: web.Request) -> web.StreamResponse:
    return _listing(request, _state(request).apps.list_instances(_app(request)))


async def get_instance(request: web.Request) -> web.StreamResponse:
    instance = _state(request).apps.instance(_app(request), _instance(request))
    return json_response(instance.wire())


async def update_instance(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    instance = _state(request).apps.update_instance(_app(request), _instance(request), body)
    return json_response(instance.wire())


async def lock_instance(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    instance = _state(request).apps.lock_instance(_app(request), _instance(request), body)
    return json_response(instance.wire())


async def delete_instance(request: web.Request) -> web.StreamResponse:
    _state(request).apps.delete_instance(_app(request), _instance(request))
    return json_response({})
