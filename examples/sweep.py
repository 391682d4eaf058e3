"""A sweep: many scenarios, each submitted exactly once, streamed back as each run finishes.

    NEXTMV_API_KEY=any NEXTMV_ENDPOINT=http://127.0.0.1:8710 \
        .venv/bin/python examples/sweep.py --scenarios 200 --journal sweep.db --out results/

Run it again with the same journal and it resumes: finished scenarios come back from the
journal (`resumed`), runs still in flight are picked up, only what never reached the cloud is
submitted. Against Nextmv Cloud set NEXTMV_APP_ID to an app of yours and leave
NEXTMV_ENDPOINT unset.
"""

import argparse
import asyncio
import os
import statistics
from collections import Counter

import asyncrun


def scenarios(count: int) -> list[asyncrun.Scenario]:
    # One input per scenario; a real sweep would read instances from files (input_file=...).
    return [
        asyncrun.Scenario(
            key=f"instance-{i:04d}",
            input={"capacity": 10 + i % 7, "items": [{"id": "map", "weight": 1, "value": i}]},
            options={"seed": str(i)},
        )
        for i in range(count)
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=50)
    parser.add_argument("--journal", default="sweep.db", help="SQLite file; run again to resume")
    parser.add_argument("--out", default=None, help="write each result to <key>.json here")
    parser.add_argument("--app-id", default=os.environ.get("NEXTMV_APP_ID", "my-app"))
    args = parser.parse_args()

    statuses: Counter[str] = Counter()
    values: list[float] = []
    async with asyncrun.AsyncClient() as client:
        app = client.application(args.app_id)
        batch = app.run_batch(
            scenarios(args.scenarios), max_in_flight=100, journal=args.journal, output_dir=args.out
        )
        async for outcome in batch:  # in the order the runs finish
            statuses[outcome.status] += 1
            if outcome.value is not None:
                values.append(outcome.value)
            note = " (resumed)" if outcome.resumed else ""
            print(f"{outcome.key}: {outcome.status} {outcome.run_id}{note}")
    print("statuses:", dict(statuses))
    if values:
        print(f"value: min {min(values)} median {statistics.median(values)} max {max(values)}")


if __name__ == "__main__":
    asyncio.run(main())
