"""Memory and CPU of the batch machinery per run in flight, without HTTP: N runs that all stay
in flight until the last one is submitted (the test suite's fake application answers at once
and keeps nothing per run), so the peak holds N runs' tasks, poll state and journal rows.

    .venv/bin/python benchmarks/in_flight.py                 # 100,000 runs (~40 s)
    .venv/bin/python benchmarks/in_flight.py --runs 10000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asyncrun import Limits, Scenario, _runtime, run_batch
from asyncrun.models import RunResult
from tests.batch.fakes import FakeApplication


class HeldUntilAllSubmitted(FakeApplication):
    limits = Limits(max_connections=100)

    def __init__(self, runs: int) -> None:
        super().__init__()
        self.runs = runs

    async def run_result_direct(self, run_id: str, *, max_inline: int | None = None) -> RunResult:
        self.results += 1
        await asyncio.sleep(0)
        status = "succeeded" if self.submits == self.runs else "running"
        return RunResult.model_validate(
            {"id": run_id, "metadata": {"status_v2": status}, "output": {"value": 1.0}}
        )


def _scenarios(runs: int) -> Iterator[Scenario]:
    for i in range(runs):
        yield Scenario(key=f"s{i}", input={"i": i})


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(runs: int) -> None:
    app = HeldUntilAllSubmitted(runs)
    before, cpu = _peak_mb(), time.process_time()
    outcomes = 0
    async for _ in run_batch(app, _scenarios(runs), max_in_flight=runs, batch_tag="mem"):
        outcomes += 1
    peak = _peak_mb()
    print(f"runs in flight at once      {runs}")
    print(f"outcomes                    {outcomes}")
    print(f"peak RSS                    {peak:.0f} MB (at start {before:.0f} MB)")
    print(f"per run in flight           {(peak - before) * 1024 / runs:.2f} KB")
    print(f"CPU per run (no HTTP)       {1000 * (time.process_time() - cpu) / runs:.3f} ms")
    print(f"result reads per run        {app.results / runs:.2f}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    print(f"event loop: {_runtime.loop_name()}")
    _runtime.run(main(args.runs))


if __name__ == "__main__":
    cli()
