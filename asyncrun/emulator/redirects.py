"""Redirects on demand, as a gateway in front of the API may answer them.

`/_emulator/redirect/{how}/{rest}` answers `how`'s status with a Location to `/{rest}` (the
query kept): a client whose base URL is `http://127.0.0.1:PORT/_emulator/redirect/307/` has
every API call redirected once to the real path. `how` is a status (301, 302, 303, 307, 308),
optionally `@host` or `@host:port` for a Location on another origin (same scheme; the port of
the request unless given), e.g. `307@localhost`. Prefixes nest: two of them, two hops.

The first hop's Location is relative (resolved by the client), a hop to another host absolute.
The request log records, per request, whether it carried an Authorization header (never its
value), so a test sees whether the key followed a redirect to another origin.
"""

from __future__ import annotations

from aiohttp import web

from asyncrun.emulator.wire import ApiError

__all__ = ["REDIRECT_PREFIX", "add_redirect_routes"]

REDIRECT_PREFIX = "/_emulator/redirect/"
_STATUSES = frozenset({301, 302, 303, 307, 308})


def add_redirect_routes(app: web.Application) -> None:
    app.router.add_route("*", REDIRECT_PREFIX + "{how}/{rest:.*}", redirect)


async def redirect(request: web.Request) -> web.StreamResponse:
    status, host = _parse(request.match_info["how"])
    target = "/" + request.match_info["rest"]
    query = request.rel_url.raw_query_string
    if query:
        target += "?" + query
    if host is not None:
        if ":" not in host.rsplit("]", 1)[-1]:  # no port given: the one asked on
            host = f"{host}:{request.url.port}"
        target = f"{request.scheme}://{host}{target}"
    return web.Response(status=status, headers={"Location": target})


def _parse(how: str) -> tuple[int, str | None]:
    code, _, host = how.partition("@")
    if not code.isdigit() or int(code) not in _STATUSES:
        raise ApiError(400, f"redirect status must be one of {sorted(_STATUSES)}, not {code!r}")
    return int(code), host or None
