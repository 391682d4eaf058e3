"""1,000 concurrent `new_run_with_result` calls with asyncio.gather against the emulator.

The emulator runs in its own process (`python -m asyncrun emulator`), so the CPU time measured
here (time.process_time) is the client's alone. Every output's `input_digest` is checked against
the digest of the input that run was given, so a result delivered to the wrong caller fails.
Requests per run come from the emulator's own counters (GET /_emulator/stats).

    .venv/bin/python benchmarks/concurrent_runs.py --runs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
from _harness import emulator_process, input_digest

import asyncrun

APP = "bench-app"
KEY = "bench-key"


async def _stats(url: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/_emulator/stats") as resp,
    ):
        stats: dict[str, Any] = await resp.json()
        return stats


def _api_requests(stats: dict[str, Any]) -> dict[str, int]:
    by_route: dict[str, int] = {}
    for route, statuses in stats["requests"].items():
        if " /v1/" in route:
            by_route[route] = sum(statuses.values())
    return by_route


async def run(url: str, runs: int, polling: asyncrun.PollingOptions) -> dict[str, Any]:
    inputs = [{"scenario": i, "demand": [i % 7, i % 11, i % 13]} for i in range(runs)]
    limits = asyncrun.Limits(max_connections=100, rate=asyncrun.RateLimits.unlimited())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    async with asyncrun.AsyncClient(KEY, url, limits=limits) as client:
        app = client.application(APP)
        results = await asyncio.gather(
            *(app.new_run_with_result(data, polling_options=polling) for data in inputs)
        )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    mismatched = sum(
        1
        for data, result in zip(inputs, results, strict=True)
        if not isinstance(result.output, dict)
        or result.output.get("input_digest") != input_digest(data)
    )
    not_succeeded = sum(1 for r in results if r.metadata.status_v2 != asyncrun.StatusV2.succeeded)
    by_route = _api_requests(await _stats(url))
    total = sum(by_route.values())
    return {
        "runs": runs,
        "succeeded": runs - not_succeeded,
        "digest_mismatches": mismatched,
        "api_requests": total,
        "requests_per_run": total / runs,
        "requests_by_route": by_route,
        "client_cpu_s": cpu,
        "client_cpu_s_per_run": cpu / runs,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--duration",
        type=float,
        nargs=2,
        default=(0.5, 1.5),
        metavar=("LOW", "HIGH"),
        help="run duration range, simulated seconds",
    )
    args = parser.parse_args()
    polling = asyncrun.PollingOptions(
        initial_delay=0.25, delay=0.1, backoff=0.1, max_delay=1.0, jitter=0.1
    )
    with emulator_process(
        *("--api-key", KEY, "--time-scale", str(args.time_scale)),
        *("--duration", str(args.duration[0]), str(args.duration[1])),
    ) as url:
        report = asyncio.run(run(url, args.runs, polling))
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for route, n in sorted(value.items()):
                print(f"  {route}: {n}")
        elif isinstance(value, float):
            print(f"{key}: {value:.4f}")
        else:
            print(f"{key}: {value}")
    if report["digest_mismatches"] or report["succeeded"] != report["runs"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
