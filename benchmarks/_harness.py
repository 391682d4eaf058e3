"""What every benchmark needs: an emulator in its own process, so the client under test never
shares its CPU, the digest the emulator's default app reports for an input, and readings of the
emulator's counters. aiohttp is imported only where it is used: a child process measuring the
official SDK's memory must not carry it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_URL = re.compile(r"https?://\S+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Emulator:
    url: str
    process: subprocess.Popen[str]


@contextlib.contextmanager
def started_emulator(*flags: str, env: Mapping[str, str] | None = None) -> Iterator[Emulator]:
    """`asyncrun emulator FLAGS...` on a free port; yields its URL (as it prints it, so a TLS or
    proxied emulator gives its own) and process; stops it on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "asyncrun", "emulator", "--port", str(port), *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = _URL.search(line) if "listening" in line else None
        if found is None:
            raise RuntimeError(f"the emulator did not start: {line.strip()!r}")
        yield Emulator(found.group(0).rstrip(",;)"), proc)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def emulator_process(*flags: str) -> Iterator[str]:
    """`asyncrun emulator FLAGS...` on a free port; yields its URL, stops it on exit."""
    with started_emulator(*flags) as emulator:
        yield emulator.url


def input_digest(value: Any) -> str:
    """sha256 of the canonical JSON of an input, as the emulator's `input_digest`."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def get_json_sync(url: str, path: str, *, ca_file: str | None = None, timeout: float = 30.0) -> Any:
    """The same, blocking (urllib): for code that is not in an event loop. `ca_file`: the CA
    of an emulator started with TLS."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with urllib.request.urlopen(f"{url}{path}", timeout=timeout, context=context) as resp:
        return json.loads(resp.read())


async def get_json(url: str, path: str) -> Any:
    """GET an emulator endpoint that needs no auth (/_emulator/...)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{url}{path}") as resp:
        return await resp.json()


def route_count(stats: dict[str, Any], route_part: str, method: str = "GET") -> int:
    """Requests the emulator counted (any status) on routes `METHOD ...route_part`."""
    return sum(
        sum(statuses.values())
        for route, statuses in stats["requests"].items()
        if route.startswith(method + " ") and route.endswith(route_part)
    )


def status_reads(stats: dict[str, Any]) -> int:
    """Requests whose only use is to learn a status: metadata reads and list pages."""
    return route_count(stats, "/metadata") + route_count(stats, "/runs")


def polls(stats: dict[str, Any], results_fetched: int) -> int:
    """Requests made to learn a status: metadata reads, list pages, and run reads beyond the
    one per result fetched (a client may read a small result directly as its last poll)."""
    beyond = max(0, route_count(stats, "/runs/{run_id}") - results_fetched)
    return status_reads(stats) + beyond


def status_count(stats: dict[str, Any], status: str) -> int:
    """Answers with this status (e.g. "429") over every route."""
    return sum(statuses.get(status, 0) for statuses in stats["requests"].values())


def api_requests(stats: dict[str, Any]) -> int:
    """Every /v1 request the emulator counted (any status, dropped connections included)."""
    return sum(sum(s.values()) for route, s in stats["requests"].items() if " /v1/" in route)


def peak_rss() -> int:
    """Peak resident memory of this process, bytes (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
