"""Metadata-poll load on the emulator: how many GET runs/{id}/metadata per second it answers.

The emulator runs in its own process (`python -m asyncrun emulator`), so this client does not
share its CPU; pollers share one pooled aiohttp connector.

    .venv/bin/python benchmarks/emulator_load.py --concurrency 100 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections import Counter

import aiohttp
from _harness import emulator_process

APP = "/v1/applications/bench-app"
AUTH = {"Authorization": "Bearer bench-key"}


async def _poller(
    http: aiohttp.ClientSession,
    url: str,
    run_ids: list[str],
    offset: int,
    deadline: float,
    statuses: Counter[int],
    latencies: list[float],
) -> None:
    i = offset
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        async with http.get(f"{url}{APP}/runs/{run_ids[i % len(run_ids)]}/metadata") as resp:
            await resp.read()
            statuses[resp.status] += 1
        latencies.append(time.perf_counter() - started)
        i += 1


async def measure(url: str, concurrency: int, seconds: float, runs: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as http:
        run_ids = []
        for i in range(runs):
            async with http.post(f"{url}{APP}/runs", json={"input": {"i": i}}) as resp:
                run_ids.append((await resp.json())["run_id"])
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(
                _poller(http, url, run_ids, k, deadline, statuses, latencies)
                for k in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": float(sum(statuses.values())),
        "ok": float(statuses[200]),
        "seconds": elapsed,
        "requests_per_s": sum(statuses.values()) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an emulator already running (default: start one)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(
            # runs stay running: polls never hit a finished run's cached answer
            emulator_process("--duration", "3600", "3600")
        )
        result = asyncio.run(measure(url, args.concurrency, args.seconds, args.runs))
    print(
        f"{result['requests']:.0f} metadata polls ({result['ok']:.0f} ok) in "
        f"{result['seconds']:.1f} s with {args.concurrency} pollers: "
        f"{result['requests_per_s']:.0f} requests/s, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
