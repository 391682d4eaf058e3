"""Input reuse: one large input swept over many option sets uploads that input once.

A batch of `--option-sets` scenarios (a grid over `seed`) over one JSON input file of about
`--mb` MB runs against an in-process emulator. Reported: bytes PUT to the emulator's storage
(its request log sizes the bodies), the bytes it stored, uploads and managed inputs made, and
every run's input digest checked against the file. With `--baseline` the same runs are also
submitted one by one with `new_run(input=...)` (no managed input: one upload per run), for
comparison.

    .venv/bin/python benchmarks/input_reuse.py                    # 20 option sets over 50 MB
    .venv/bin/python benchmarks/input_reuse.py --mb 50 --option-sets 20 --baseline
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from asyncrun import AsyncClient, Limits, RateLimits, Scenario, run_batch_all
from asyncrun.batch.scenario import with_grid
from asyncrun.emulator import EmulatorConfig, serve

MB = 10**6
KEY = "bench-key"


def make_input(path: Path, mb: float) -> Any:
    """A JSON document of about `mb` MB (compact), written to `path`."""
    rows = int(mb * MB / 91)  # each row is 91 bytes of compact JSON
    document = {"rows": [f"{i:08d}" + "x" * 80 for i in range(rows)]}
    path.write_text(json.dumps(document, separators=(",", ":")))
    return document


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def uploaded_bytes(stats: dict[str, Any]) -> tuple[int, int]:
    """(PUT requests, bytes PUT) from the emulator's request log."""
    puts = [r for r in stats["recent_requests"] if r["method"] == "PUT"]
    sizes = [int(r["headers"].get("Content-Length", 0)) for r in puts]
    return len(puts), sum(sizes)


async def measure(mb: float, option_sets: int, baseline: bool) -> dict[str, Any]:
    config = EmulatorConfig(api_key=KEY, time_scale=50.0, upload_cap=2**31)
    limits = Limits(max_connections=50, rate=RateLimits.unlimited(), upload_cap=2**31)
    with tempfile.TemporaryDirectory(prefix="asyncrun-reuse-") as tmp:
        path = Path(tmp) / "big.json"
        document = await asyncio.to_thread(make_input, path, mb)
        size = path.stat().st_size
        expected = digest(document)
        seeds = [str(i) for i in range(1, option_sets + 1)]
        scenarios = list(with_grid([Scenario(key="big", input_file=path)], [("seed", seeds)]))
        report: dict[str, Any] = {"input_bytes": size, "option_sets": option_sets}
        async with serve(config) as emu, AsyncClient(KEY, emu.url, limits=limits) as client:
            app = client.application("reuse-app")
            started = time.monotonic()
            outcomes = await run_batch_all(app, scenarios)
            report["batch_seconds"] = round(time.monotonic() - started, 2)
            stats = emu.stats()
            assert all(o.ok and o.output["input_digest"] == expected for o in outcomes)
            puts, put_bytes = uploaded_bytes(stats)
            report |= {
                "batch_uploads": puts,
                "batch_bytes_uploaded": put_bytes,
                "batch_bytes_stored": stats["bytes_stored"],
                "managed_inputs": stats["managed_inputs"],
            }
            if baseline:
                emu.reset_stats()
                stored = emu.stats()["bytes_stored"]
                started = time.monotonic()
                await asyncio.gather(*(app.new_run(document, options={"seed": s}) for s in seeds))
                report["baseline_seconds"] = round(time.monotonic() - started, 2)
                puts, put_bytes = uploaded_bytes(emu.stats())
                report |= {
                    "baseline_uploads": puts,
                    "baseline_bytes_uploaded": put_bytes,
                    "baseline_bytes_stored": emu.stats()["bytes_stored"] - stored,
                }
    report["load_average"] = os.getloadavg()[0]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="input size in MB (10^6 bytes)")
    parser.add_argument("--option-sets", type=int, default=20)
    parser.add_argument("--baseline", action="store_true", help="also one upload per run")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.mb, args.option_sets, args.baseline)), indent=2))


if __name__ == "__main__":
    main()
