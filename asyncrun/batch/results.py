"""Result files of a batch (`output_dir=`): one JSON file per scenario, named after its key and
written atomically; a multi-file output is extracted into a directory of the same name."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

from asyncrun.models import ContentFormat, RunResult

__all__ = ["files_dir", "result_path", "write_result"]

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
