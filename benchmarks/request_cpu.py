"""Client CPU per API request: a bare aiohttp GET and a bare GET on asyncrun's own HTTP/1.1
client (asyncrun/_http11.py) against asyncrun's calls (retries, rate buckets, connection slots,
parsing), against an emulator in its own process (so the CPU measured is the client's alone).

It answers where a batch's CPU per run goes: a run costs its POST and its result read (a poll
that is also the result), so twice the per-request cost below, plus the batch's own work.

    .venv/bin/python benchmarks/request_cpu.py             # 6,000 requests each, 200 at once
    .venv/bin/python benchmarks/request_cpu.py --requests 20000
    # over HTTPS, through an HTTP proxy (CONNECT tunnels; the proxy runs in its own process):
    .venv/bin/python -m pproxy -l http://127.0.0.1:8899 &
    .venv/bin/python benchmarks/request_cpu.py --tls --proxy http://127.0.0.1:8899
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp
from _harness import emulator_process

import asyncrun
from asyncrun import _runtime
from asyncrun._http11 import ConnectionPool
from asyncrun._proxy import parse_proxy

KEY = "bench-key"
APP = "bench-app"


async def _measure(
    label: str, calls: int, concurrency: int, make: Callable[[int], Awaitable[object]]
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await make(i)

    wall, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(calls)))
    per_request = 1000 * (time.process_time() - cpu) / calls
    rate = calls / (time.monotonic() - wall)
    print(f"{label:34s} {per_request:6.3f} ms CPU per request   {rate:7.0f} requests/s")


async def main(
    url: str, calls: int, concurrency: int, ca_file: str | None, proxy: str | None
) -> None:
    limits = asyncrun.Limits(max_connections=concurrency, rate=asyncrun.RateLimits.unlimited())
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    verify = ca_file or True
    async with asyncrun.AsyncClient(
        api_key=KEY, url=url, limits=limits, verify=verify, proxy=proxy, trust_env=False
    ) as client:
        app = client.application(APP)
        ids = await asyncio.gather(
            *(app.new_run(input={"i": i}, options={"emulator.duration": "0"}) for i in range(50))
        )
        headers = {"Authorization": f"Bearer {KEY}"}
        base = f"{url}/v1/applications/{APP}/runs"
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def bare(i: int) -> None:
                async with http.get(
                    f"{base}/{ids[i % 50]}/metadata",
                    headers=headers,
                    proxy=proxy,
                    ssl=context or True,
                ) as resp:
                    await resp.read()

            await _measure("aiohttp GET (bare, no parsing)", calls, concurrency, bare)
        pool = ConnectionPool(
            url,
            ssl_context=context,
            connect_timeout=10,
            read_timeout=60,
            proxy=parse_proxy(proxy) if proxy else None,
        )
        host = f"Host: {pool.host_header}\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        try:

            async def lean(i: int) -> None:
                path = f"/v1/applications/{APP}/runs/{ids[i % 50]}/metadata"
                await pool.request("GET", f"GET {path} HTTP/1.1\r\n{host}".encode(), None)

            await _measure("asyncrun's HTTP/1.1 GET (bare)", calls, concurrency, lean)
        finally:
            await pool.close()
        await _measure(
            "asyncrun run_metadata", calls, concurrency, lambda i: app.run_metadata(ids[i % 50])
        )
        await _measure(
            "asyncrun run_result_direct",
            calls,
            concurrency,
            lambda i: app.run_result_direct(ids[i % 50]),
        )
        await _measure(
            "asyncrun new_run",
            calls,
            concurrency,
            lambda i: app.new_run(input={"i": i}, options={"emulator.duration": "600"}),
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--tls", action="store_true", help="the emulator over HTTPS")
    parser.add_argument("--proxy", default=None, help="every client through this HTTP proxy")
    args = parser.parse_args()
    print(f"event loop: {_runtime.loop_name()}")
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = f"{tmp}/ca.pem" if args.tls else None
        tls = ["--tls", "--ca-out", ca_file] if ca_file else []
        with emulator_process("--api-key", KEY, "--profile", "unlimited", *tls) as url:
            _runtime.run(main(url, args.requests, args.concurrency, ca_file, args.proxy))


if __name__ == "__main__":
    cli()
