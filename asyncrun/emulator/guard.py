"""The one middleware: request log and counters, then for /v1 auth, app id, rate buckets, faults."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from asyncrun.emulator.ids import check_app_id
from asyncrun.emulator.limits import Bucket
from asyncrun.emulator.state import STATE, EmulatorState
from asyncrun.emulator.storage import StorageError
from asyncrun.emulator.storage_routes import s3_error
from asyncrun.emulator.wire import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LOGGED_BODY_LIMIT = 64 * 1024
_HIDDEN_QUERY = frozenset({"signature"})
_RESULT_ROUTES = frozenset(
    {
        "GET /v1/applications/{app_id}/runs/{run_id}",
        "GET /v1/applications/{app_id}/runs/{run_id}/output",
    }
)
_CREATE_ROUTE = "POST /v1/applications/{app_id}/runs"


class DroppedConnection(Exception):
    """Raised to close the connection without an answer."""


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None:
        return f"{request.method} unmatched"
    return f"{request.method} {resource.canonical}"


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    route = route_of(request)
    status = 0
    state.connections.on_request(request.transport, request.headers.get("User-Agent"))
    try:
        await _log(state, request)
        if request.path.startswith("/v1/"):
            response = _with_request_id(state, await _guarded(state, request, route, handler))
        elif request.path.startswith("/_storage/"):
            response = _storage_fault(state) or await handler(request)
        else:
            response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        return _with_request_id(state, exc.response())
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400 or not request.path.startswith("/v1/"):
            raise
        # aiohttp's own refusals (no such route, wrong method, body too large) in the API's shape.
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _with_request_id(state, ApiError(exc.status, exc.reason, allow).response())
    except DroppedConnection:
        # Abort the socket; aiohttp then finds the transport closed and writes nothing.
        _drop(request)
        return web.Response(status=500)
    finally:
        state.stats.count(route, status)


def _storage_fault(state: EmulatorState) -> web.Response | None:
    fault = state.faults.draw_storage()
    if fault is None:
        return None
    state.stats.faults[fault] += 1
    if fault == "storage_drop":
        raise DroppedConnection
    return s3_error(StorageError(500, "InternalError", "injected: internal error"))


def _with_request_id(state: EmulatorState, response: web.StreamResponse) -> web.StreamResponse:
    """Tag an API answer with X-Request-Id (not a streamed one: its headers are sent)."""
    if not response.prepared:
        response.headers["X-Request-Id"] = state.next_request_id()
    return response


async def _guarded(
    state: EmulatorState, request: web.Request, route: str, handler: Handler
) -> web.StreamResponse:
    _check_auth(state, request)
    app_id = request.match_info.get("app_id")
    if app_id is not None:
        check_app_id(app_id)
    _check_rate(state, route)
    fault = state.faults.draw(is_create=route == _CREATE_ROUTE)
    if fault is not None:
        state.stats.faults[fault] += 1
        await _apply_fault(state, fault)
    if fault == "late_create":
        await _create_late(state, request)
    response = await handler(request)
    if fault == "lost_create" and response.status < 300:
        raise DroppedConnection
    return response


async def _create_late(state: EmulatorState, request: web.Request) -> None:
    """Take the whole request, drop its connection unanswered, create the run later."""
    body = await request.read()  # a body over the size limit is still refused with 413
    state.create_late(request.match_info["app_id"], body, request.query.get("instance_id"))
    raise DroppedConnection


def _check_auth(state: EmulatorState, request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    expected = state.config.api_key
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "missing bearer API key")
    if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
        raise ApiError(401, "invalid API key")


def _check_rate(state: EmulatorState, route: str) -> None:
    if not state.limiter.active:
        return
    bucket: Bucket = "general"
    if route == _CREATE_ROUTE:
        bucket = "create"
    elif route in _RESULT_ROUTES:
        bucket = "result"
    wait = state.limiter.retry_after(bucket)
    if wait is not None:
        state.stats.rate_limited[bucket] += 1
        raise ApiError(429, f"rate limit exceeded ({bucket})", {"Retry-After": str(wait)})


async def _apply_fault(state: EmulatorState, fault: str) -> None:
    if fault == "429":
        raise ApiError(429, "injected: too many requests", {"Retry-After": "1"})
    if fault == "429_bare":
        raise ApiError(429, "injected: too many requests (no Retry-After)")
    if fault in ("500", "502", "503"):
        raise ApiError(int(fault), f"injected: server error {fault}")
    if fault == "drop":
        raise DroppedConnection
    if fault == "slow":
        await asyncio.sleep(state.faults.profile.slow_seconds)


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _log(state: EmulatorState, request: web.Request) -> None:
    query = {k: ("***" if k in _HIDDEN_QUERY else v) for k, v in request.query.items()}
    # The path as sent (still percent-encoded), so a test sees exactly how a client escaped ids.
    entry = state.stats.log_request(
        request.method, request.rel_url.raw_path, query, dict(request.headers)
    )
    length = request.content_length
    if (
        request.content_type == "application/json"
        and length is not None
        and 0 < length <= _LOGGED_BODY_LIMIT
    ):
        try:
            entry["json"] = json.loads(await request.read())
        except ValueError:
            entry["json"] = None
