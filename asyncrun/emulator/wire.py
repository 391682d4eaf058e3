"""Small helpers for answers on the wire: JSON bodies and API errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

JSON = "application/json"


class ApiError(Exception):
    """An API answer other than success: HTTP status and a message for {"error": ...}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        return json_response({"error": self.message}, status=self.status, headers=self.headers)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def json_response(
    value: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=json_bytes(value), status=status, content_type=JSON, headers=headers)


def raw_json_response(body: bytes, *, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


class Wired(Protocol):
    def wire(self) -> dict[str, Any]: ...


def encode_page_token(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode()


def decode_page_token(token: str | None, kind: str) -> int | None:
    """The position in a `pagetoken` this server gave out (None: no token), else 400."""
    if not token:
        return None
    try:
        found, _, position = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if found != kind:
            raise ValueError(token)
        return int(position)
    except ValueError as exc:
        raise ApiError(400, "pagetoken is not a token this server gave out") from exc


def listing(query: Mapping[str, str], items: Sequence[Wired], page_size: int) -> web.Response:
    """A list as the SDK reads it: a bare array, or with `pagereturn=true` pages of
    {items, next_page_token} (its request_with_pagination)."""
    if query.get("pagereturn") != "true":
        return json_response([item.wire() for item in items])
    start = decode_page_token(query.get("pagetoken"), "at") or 0
    end = start + page_size
    token = encode_page_token("at", end) if end < len(items) else ""
    return json_response(
        {"items": [item.wire() for item in items[start:end]], "next_page_token": token}
    )
