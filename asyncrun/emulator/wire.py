"""Small helpers for answers on the wire: JSON bodies and API errors."""

from __future__ import annotations

import json
from typing import Any

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
