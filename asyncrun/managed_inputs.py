"""Managed inputs: an input stored once in an application and used by many runs.

`ManagedInputsMixin` is part of `AsyncApplication`, with the SDK's method names
(`new_managed_input`, `managed_input`, `list_managed_inputs`, `update_managed_input`,
`delete_managed_input`) and bodies (POST/GET/PUT/DELETE {app}/inputs[/{id}]). Runs use one
with `new_run(managed_input_id=...)` (or `input=<ManagedInput>`), which sends `input_id`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Mapping
from os import PathLike
from typing import Any
from urllib.parse import quote

from asyncrun import payload
from asyncrun._answers import model, pages, parse
from asyncrun._app_core import AppCore
from asyncrun.errors import ConfigError
from asyncrun.models import ContentFormat, Format, ManagedInput

__all__ = ["ManagedInputsMixin", "new_managed_input_id", "validate_input_id"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def validate_input_id(input_id: str) -> str:
    if not isinstance(input_id, str) or not _ID.fullmatch(input_id):
        raise ConfigError(
            f"invalid managed input id {input_id!r}: 1-100 letters, digits, '.', '_' or '-'"
        )
    return input_id


def new_managed_input_id() -> str:
    """A fresh id as the SDK makes one (`managed-input-` and 8 random characters)."""
    return f"managed-input-{secrets.token_hex(4)}"


def _path(app: AppCore, input_id: str | None = None) -> str:
    base = f"{app._base}/inputs"
    return base if input_id is None else f"{base}/{quote(validate_input_id(input_id), safe='')}"


def _format_body(format: Format | Mapping[str, Any] | None, kind: ContentFormat) -> Any:
    if isinstance(format, Format):
        return format.to_dict()
    if isinstance(format, Mapping):
        return dict(format)
    if format is not None:
        raise ConfigError("format must be an asyncrun.Format or a dict")
    output = kind if kind in (ContentFormat.multi_file, ContentFormat.csv_archive) else "json"
    return {"input": {"type": kind}, "output": {"type": output}}


class ManagedInputsMixin:
    """Create, read, list, rename and delete managed inputs (mixed into AsyncApplication)."""

    async def new_managed_input(
        self: AppCore,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        upload_id: str | None = None,
        run_id: str | None = None,
        format: Format | Mapping[str, Any] | None = None,
        *,
        input: Any = None,
        dir_path: str | PathLike[str] | None = None,
        compresslevel: int = payload.DEFAULT_COMPRESSLEVEL,
    ) -> ManagedInput:
        """POST {app}/inputs from `upload_id=` (an upload already made) or `run_id=` (that
        run's input), as the SDK does; or from `input=` / `dir_path=`, uploaded first (a
        directory is packed as tar.gz and the format set to multi-file). `id` defaults to a
        fresh one; `name` to the id. The POST is not retried once sent: after an ambiguous
        failure, `managed_input(id)` tells whether it was created."""
        sources = [upload_id, run_id, input, dir_path]
        if sum(value is not None for value in sources) != 1:
            raise ConfigError("give exactly one of upload_id, run_id, input, dir_path")
        input_id = validate_input_id(id) if id else new_managed_input_id()
        kind = ContentFormat.json
        if input is not None or dir_path is not None:
            upload_id, kind = await self._upload_input(input, dir_path, compresslevel)
        body: dict[str, Any] = {"id": input_id, "name": name or input_id}
        if description is not None:
            body["description"] = description
        if upload_id is not None:
            body["upload_id"] = upload_id
        if run_id is not None:
            body["run_id"] = run_id
        body["format"] = _format_body(format, kind)
        raw = await self._call(
            "POST", _path(self), body=json.dumps(body).encode(), idempotent=False
        )
        return parse(ManagedInput, raw, "new_managed_input")

    async def managed_input(self: AppCore, managed_input_id: str) -> ManagedInput:
        """GET {app}/inputs/{id}."""
        raw = await self._call("GET", _path(self, managed_input_id))
        return parse(ManagedInput, raw, "managed_input")

    async def list_managed_inputs(self: AppCore) -> AsyncIterator[ManagedInput]:
        """The application's managed inputs, page by page (GET {app}/inputs?pagereturn=true)."""
        path = _path(self)

        def fetch(params: dict[str, str]) -> Awaitable[bytes]:
            return self._call("GET", path, params=params)

        async for items in pages(fetch, "items", "list_inputs"):
            for item in items:
                yield model(ManagedInput, item, "list_managed_inputs")

    async def update_managed_input(
        self: AppCore,
        managed_input_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> ManagedInput:
        """PUT {app}/inputs/{id} with the new name and/or description (the SDK reads the input
        first and sends it whole; so does this)."""
        body = (await self.managed_input(managed_input_id)).to_dict()
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        raw = await self._call("PUT", _path(self, managed_input_id), body=json.dumps(body).encode())
        return parse(ManagedInput, raw, "update_managed_input")

    async def delete_managed_input(self: AppCore, managed_input_id: str) -> None:
        """DELETE {app}/inputs/{id}."""
        await self._call("DELETE", _path(self, managed_input_id))
