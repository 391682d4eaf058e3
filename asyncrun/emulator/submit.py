"""POST runs: validate the body, read the input (inline or uploaded), and describe the new run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tarfile
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncrun.emulator import default_app
from asyncrun.emulator.config import INLINE_LIMIT
from asyncrun.emulator.runs import MULTI_FILE_TYPES, NewRun
from asyncrun.emulator.storage import Storage
from asyncrun.emulator.wire import ApiError

DEFAULT_INSTANCE = "devint"
DEFAULT_EXECUTION_CLASS = "6c9500mb870s"
CONTENT_TYPES = frozenset({"json", "text", "csv", "csv-archive", "multi-file"})


def upload_key(upload_id: str) -> str:
    return f"uploads/{upload_id}"


@dataclass(frozen=True)
class StoredInput:
    """What a run created with `input_id` reads: the managed input's object, read as a type."""

    key: str
    size: int
    digest: str
    files: list[dict[str, Any]] | None
    failure: str | None


# (input_id, input type or None for the managed input's own) -> (its input type, its object)
ManagedLookup = Callable[[Any, str | None], Awaitable[tuple[str, StoredInput]]]


def read_json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, "request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    return payload


async def parse_new_run(
    storage: Storage,
    app_id: str,
    body: bytes,
    instance_id: str | None,
    managed: ManagedLookup | None = None,
) -> NewRun:
    payload = read_json_body(body)
    if payload.get("result") is not None:
        raise ApiError(400, "external (tracked) runs are not supported by the emulator")
    given = [k for k in ("input", "upload_id", "input_id") if payload.get(k) is not None]
    if len(given) > 1:
        raise ApiError(400, f"give only one of input, upload_id, input_id (got {given})")
    options = _options(payload.get("options"))
    input_type, output_type, execution_class = _configuration(payload.get("configuration"))
    knobs = _knobs(options)
    spec = NewRun(
        app_id=app_id,
        name=text_field(payload, "name"),
        description=text_field(payload, "description"),
        instance_id=instance_id or DEFAULT_INSTANCE,
        options=options,
        input_type=input_type,
        output_type=output_type,
        execution_class=execution_class,
        input_size=0,
        inline_input=None,
        input_key=None,
        digest="",
        files=None,
        fail_message=knobs.pop("fail", None),
        duration_s=knobs.pop("duration", None),
        queue_s=knobs.pop("queue", None),
        output_bytes=knobs.pop("output_bytes", None),
        evil=knobs.pop("evil", None),
    )
    upload_id = payload.get("upload_id")
    if payload.get("input_id") is not None:
        if managed is None:
            raise ApiError(400, "managed inputs are not available")
        await _read_managed(spec, payload, managed)
    elif upload_id:
        await _read_upload(storage, spec, upload_id)
    else:
        _read_inline(spec, payload)
    return spec


async def _read_managed(spec: NewRun, payload: dict[str, Any], managed: ManagedLookup) -> None:
    """The run reads the managed input's object; without a format in the configuration the
    managed input's own format is the run's."""
    config = payload.get("configuration")
    fmt = config.get("format") if isinstance(config, dict) else None
    stated = spec.input_type if fmt else None
    input_type, stored = await managed(payload["input_id"], stated)
    if stated is None:
        spec.input_type = input_type
        if input_type in MULTI_FILE_TYPES:
            spec.output_type = input_type
    spec.input_key = stored.key
    spec.input_size = stored.size
    spec.digest = stored.digest
    spec.files = stored.files
    spec.fail_message = spec.fail_message or stored.failure


def text_field(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    return value


def _options(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ApiError(400, "options must be an object of string values")
    return dict(raw)


def _configuration(raw: Any) -> tuple[str, str, str]:
    if raw is None:
        return "json", "json", DEFAULT_EXECUTION_CLASS
    if not isinstance(raw, dict):
        raise ApiError(400, "configuration must be an object")
    fmt = raw.get("format") or {}
    if not isinstance(fmt, dict):
        raise ApiError(400, "configuration.format must be an object")
    types = []
    for side in ("input", "output"):
        part = fmt.get(side) or {}
        kind = part.get("type", "json") if isinstance(part, dict) else None
        if kind not in CONTENT_TYPES:
            raise ApiError(
                400, f"configuration.format.{side}.type must be one of {sorted(CONTENT_TYPES)}"
            )
        types.append(str(kind))
    execution_class = raw.get("execution_class") or DEFAULT_EXECUTION_CLASS
    if not isinstance(execution_class, str):
        raise ApiError(400, "configuration.execution_class must be a string")
    return types[0], types[1], execution_class


def _knobs(options: dict[str, str]) -> dict[str, Any]:
    """The emulator.* run options, parsed; a bad value is the caller's error (400)."""
    knobs: dict[str, Any] = {}
    try:
        for name in ("duration", "queue"):
            if f"emulator.{name}" in options:
                knobs[name] = float(options[f"emulator.{name}"])
                if not knobs[name] >= 0:
                    raise ValueError
        if "emulator.output_bytes" in options:
            knobs["output_bytes"] = int(options["emulator.output_bytes"])
            if knobs["output_bytes"] < 0:
                raise ValueError
    except ValueError as exc:
        raise ApiError(
            400, "emulator.duration, emulator.queue and emulator.output_bytes must be >= 0"
        ) from exc
    if "emulator.fail" in options:
        knobs["fail"] = options["emulator.fail"] or "run failed"
    if "emulator.evil_output" in options:
        evil = options["emulator.evil_output"]
        if evil not in default_app.EVIL_KINDS:
            raise ApiError(
                400, f"emulator.evil_output must be one of {list(default_app.EVIL_KINDS)}"
            )
        knobs["evil"] = evil
    return knobs


def _read_inline(spec: NewRun, payload: dict[str, Any]) -> None:
    if "input" not in payload or payload["input"] is None:
        raise ApiError(400, "one of input, upload_id or input_id is required")
    value = payload["input"]
    encoded = default_app.compact_json(value)
    if len(encoded) > INLINE_LIMIT:
        raise ApiError(413, "input is larger than 5 MiB: upload it (runs/uploadurl) instead")
    spec.inline_input = value
    if spec.input_type != "json" and isinstance(value, str):
        spec.input_size = len(value.encode())
        spec.digest = hashlib.sha256(value.encode()).hexdigest()
    else:
        spec.input_size = len(encoded)
        spec.digest = default_app.digest_json(value)


async def _read_upload(storage: Storage, spec: NewRun, upload_id: Any) -> None:
    if not isinstance(upload_id, str):
        raise ApiError(400, "upload_id must be a string")
    key = upload_key(upload_id)
    if not storage.exists(key):
        raise ApiError(400, f"upload {upload_id!r} not found: PUT the input to its URL first")
    spec.input_key = key
    spec.input_size = storage.size(key)
    spec.digest, spec.files, failure = await read_object(storage.path(key), spec.input_type)
    spec.fail_message = spec.fail_message or failure


async def read_object(
    path: Path, input_type: str
) -> tuple[str, list[dict[str, Any]] | None, str | None]:
    """(digest, files of a multi-file input, why the default app will fail on it) of a stored
    input read as `input_type`."""
    if input_type in MULTI_FILE_TYPES:
        digest = await asyncio.to_thread(default_app.digest_file, path)
        try:
            return digest, await asyncio.to_thread(default_app.files_of_targz, path), None
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return digest, [], "input is not a valid tar.gz archive"
    if input_type == "json":
        try:
            return await asyncio.to_thread(default_app.digest_json_file, path), None, None
        except ValueError:
            digest = await asyncio.to_thread(default_app.digest_file, path)
            return digest, None, "input is not valid JSON"
    return await asyncio.to_thread(default_app.digest_file, path), None, None
