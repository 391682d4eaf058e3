"""One client under test, in its own process: `python benchmarks/_clients.py CLIENT OUT`.

CLIENT is `asyncrun` or `sdk`: the process imports it, then reads its spec (JSON) on stdin,
written by compare.py once the emulator is up (the emulator URL, the runs' durations, the
client's settings). OUT receives what this process saw: its start (epoch and monotonic), each
run's id, status, output digest or error and the moment its result was in hand, the process's
CPU time over the work and its peak RSS. Only the client under test is imported, so the CPU
and memory measured are its own.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from _figures import scenario_input
from _harness import peak_rss


def _options(duration: float) -> dict[str, str]:
    return {"emulator.duration": f"{duration:.3f}"}


def run_asyncrun(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncrun
    from asyncrun import _runtime

    async def main() -> dict[str, Any]:
        limits = asyncrun.Limits(rate=getattr(asyncrun.RateLimits, spec["preset"])())
        scenarios = [
            asyncrun.Scenario(
                key=f"s{i:05d}", input=scenario_input(spec["case"], i), options=_options(d)
            )
            for i, d in enumerate(spec["durations"])
        ]
        runs: list[dict[str, Any]] = []
        t0, m0, cpu0 = time.time(), time.monotonic(), time.process_time()
        async with asyncrun.AsyncClient(spec["api_key"], spec["url"], limits=limits) as client:
            app = client.application(spec["app"])
            batch = app.run_batch(
                scenarios, max_in_flight=spec["max_in_flight"], batch_tag=spec["tag"]
            )
            async for outcome in batch:
                output = outcome.output
                runs.append(
                    {
                        "i": int(outcome.key[1:]),
                        "run_id": outcome.run_id,
                        "seen": time.time(),
                        "status": outcome.status,
                        "digest": output.get("input_digest") if isinstance(output, dict) else None,
                        "error": outcome.error,
                    }
                )
        return _report(t0, m0, cpu0, runs)

    report: dict[str, Any] = _runtime.run(main())
    return report


def run_sdk(spec: dict[str, Any]) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    import nextmv
    from nextmv import cloud

    client = cloud.Client(api_key=spec["api_key"], url=spec["url"])
    app = cloud.Application(client=client, id=spec["app"])
    extra: dict[str, Any] = {}
    if spec["polling"] is not None:
        extra["polling_options"] = nextmv.PollingOptions(**spec["polling"])

    def one(i: int, duration: float) -> dict[str, Any]:
        try:
            result = app.new_run_with_result(
                input=scenario_input(spec["case"], i),
                name=f"{spec['tag']}/s{i:05d}",
                run_options=_options(duration),
                **extra,
            )
        except Exception as exc:  # recorded, not raised: how the SDK fails is a figure
            return {
                "i": i,
                "run_id": None,
                "seen": time.time(),
                "status": None,
                "digest": None,
                "error": f"{type(exc).__name__}: {exc}",
            }
        seen = time.time()
        output = result.output
        status = result.metadata.status_v2
        return {
            "i": i,
            "run_id": result.id,
            "seen": seen,
            "status": getattr(status, "value", status),
            "digest": output.get("input_digest") if isinstance(output, dict) else None,
            "error": None,
        }

    t0, m0, cpu0 = time.time(), time.monotonic(), time.process_time()
    with ThreadPoolExecutor(max_workers=spec["workers"]) as pool:
        futures = [pool.submit(one, i, d) for i, d in enumerate(spec["durations"])]
        runs = [f.result() for f in futures]
    return _report(t0, m0, cpu0, runs)


def _report(t0: float, m0: float, cpu0: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "t0": t0,
        "t_end": time.time(),
        "makespan_s": time.monotonic() - m0,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_bytes": peak_rss(),
        "runs": runs,
    }


RUNNERS = {"asyncrun": run_asyncrun, "sdk": run_sdk}
MODULES = {"asyncrun": ("asyncrun", "asyncrun._runtime"), "sdk": ("nextmv", "nextmv.cloud")}


def main(client: str, out_path: str) -> int:
    for module in MODULES[
        client
    ]:  # imported before the spec arrives: the emulator starts meanwhile
        importlib.import_module(module)
    spec = json.load(sys.stdin)
    Path(out_path).write_text(json.dumps(RUNNERS[client](spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
