"""What every benchmark needs: an emulator in its own process, so the client under test never
shares its CPU, plus the digest the emulator's default app reports for an input."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator_process(*flags: str) -> Iterator[str]:
    """`asyncrun emulator FLAGS...` on a free port; yields its URL, stops it on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "asyncrun", "emulator", "--port", str(port), *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if "listening" not in proc.stdout.readline():
            raise RuntimeError("the emulator did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def input_digest(value: Any) -> str:
    """sha256 of the canonical JSON of an input, as the emulator's `input_digest`."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def get_json(url: str, path: str) -> Any:
    """GET an emulator endpoint that needs no auth (/_emulator/...)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}{path}") as resp:
        return await resp.json()
