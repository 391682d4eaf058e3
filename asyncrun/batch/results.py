"""Result files of a batch (`output_dir=`): one JSON file per scenario, named after its key and
written atomically; a multi-file output is extracted into a directory of the same name.

The folder is checked by doing, before anything is sent (`prepare_output_dir`): created, and a
probe file written and removed in it. An access check is not enough: it says yes to root even
where nothing can be created (/proc, a read-only mount)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from asyncrun.errors import ConfigError
from asyncrun.models import ContentFormat, RunResult

__all__ = ["files_dir", "prepare_output_dir", "result_path", "unwritable", "write_result"]

_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._=,+@-]")


def result_path(output_dir: Path, key: str) -> Path:
    """Where the result of `key` is written: its components made filesystem-safe (a hash is
    added when anything had to change, so two keys never share a file)."""
    parts = [_UNSAFE_PATH_CHARS.sub("_", p) or "_" for p in key.split("/")]
    parts = ["_" if p in (".", "..") else p for p in parts]
    safe = "/".join(parts)
    if safe != key:
        safe += "~" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return output_dir.joinpath(*safe.split("/")).with_name(safe.split("/")[-1] + ".json")


def files_dir(output_dir: Path | None, key: str, output_type: Any) -> Path | None:
    """Where a non-JSON (multi-file) output of `key` is extracted; None when it is not."""
    if output_dir is None or output_type == ContentFormat.json:
        return None
    return result_path(output_dir, key).with_suffix("")


async def write_result(
    output_dir: Path,
    key: str,
    run_id: str,
    status: str,
    result: RunResult | None,
    error: str | None,
) -> str:
    """Write the result file of `key` (the output, or the run's status and error when it has
    no result) and return its path."""
    path = result_path(output_dir, key)
    if result is not None:
        document: Any = result.output
    else:
        document = {"run_id": run_id, "status": status, "error": error}
    await asyncio.to_thread(_write_json_atomically, path, document)
    return str(path)


def _write_json_atomically(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temp.open("w", encoding="utf-8") as sink:
            json.dump(document, sink, separators=(",", ":"))
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def prepare_output_dir(path: Path, what: str = "output_dir") -> None:
    """Create the folder `path` and write, sync and remove a probe file in it; ConfigError
    (one line: the folder, why) when that fails. Blocking: call it in a thread."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path / f".asyncrun-probe-{secrets.token_hex(4)}")
    except OSError as exc:
        raise ConfigError(
            f"{what} {str(path)!r} cannot be written: {unwritable(exc, path)}"
        ) from None


def _file_in_the_way(path: Path) -> Path | None:
    """The path itself or a folder above it that exists and is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def _probe(probe: Path) -> None:
    sink = probe.open("x", encoding="utf-8")
    try:
        with sink:
            sink.write("asyncrun checks that this folder can be written\n")
            sink.flush()
            os.fsync(sink.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def unwritable(exc: OSError, folder: Path | None = None) -> str:
    """Why a file (in `folder`) could not be written, in a few words ("No space left on
    device", "'out/x' is not a directory")."""
    blocker = _file_in_the_way(folder) if folder is not None else None
    if blocker is not None:
        return f"{str(blocker)!r} is not a directory"
    return exc.strerror or str(exc) or type(exc).__name__
