"""Custom apps: push a model, promote it, push a changed model as a candidate, run the same
sweep on both instances and compare their values.

    .venv/bin/asyncrun emulator --port 8710 &       # runs pushed python apps with its python
    export NEXTMV_API_KEY=any NEXTMV_ENDPOINT=http://127.0.0.1:8710
    .venv/bin/python examples/custom_apps.py

The model is examples/knapsack (a plain Nextmv app; its `max_items` option, 0 by default,
considers only the first N items). The candidate is the same model with `max_items` 2 by
default, so the two instances answer differently on the same input. Against Nextmv Cloud,
leave NEXTMV_ENDPOINT unset, install `asyncrun[push]` and add the manifest's
`pip-requirements` (see examples/knapsack/app.yaml); pick an app id of your own.
"""

import asyncio
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import asyncrun
from asyncrun.batch import with_grid

APP_ID = os.environ.get("NEXTMV_APP_ID", "knapsack")
MODEL = Path(__file__).parent / "knapsack"


def candidate_model(folder: Path) -> Path:
    """The example model, changed: consider only the first 2 items by default."""
    target = folder / "knapsack-v2"
    shutil.copytree(MODEL, target)
    main = target / "main.py"
    main.write_text(main.read_text().replace('("max_items", int, 0,', '("max_items", int, 2,'))
    return target


async def main() -> None:
    async with asyncrun.AsyncClient() as client:
        app = client.application(APP_ID)
        if not await app.exists():
            app = await client.new_application(APP_ID, name="Knapsack")
        await app.push(MODEL)  # devint (alias latest) runs it now
        await app.promote("v1", instance_id="stable")  # a version, an instance, the default

        with tempfile.TemporaryDirectory() as scratch:
            await app.push(candidate_model(Path(scratch)))
        await app.new_version("v2", exist_ok=True)
        await app.new_instance("v2", "candidate", exist_ok=True)

        data = json.loads((MODEL / "input.json").read_text())
        base = [asyncrun.Scenario(key="week-12", input=data)]
        grid = [("instance_id", ["stable", "candidate"]), ("duration", ["10", "20"])]
        outcomes = await app.run_batch_all(with_grid(base, grid), fetch_results=False)
        for instance in ("stable", "candidate"):
            values = [o.value for o in outcomes if o.instance_id == instance]
            statuses = {o.status for o in outcomes if o.instance_id == instance}
            known = [v for v in values if v is not None]
            median = statistics.median(known) if known else None
            print(f"{instance}: statuses {sorted(statuses)}, values {values}, median {median}")


if __name__ == "__main__":
    asyncio.run(main())
