"""A first run: submit one input, wait for its result, print it.

Against the local emulator (no account needed):

    .venv/bin/asyncrun emulator --port 8710 &
    NEXTMV_API_KEY=any NEXTMV_ENDPOINT=http://127.0.0.1:8710 .venv/bin/python examples/first_run.py

Against Nextmv Cloud, with an app of yours (say the knapsack app of examples/knapsack):

    NEXTMV_API_KEY=<your key> NEXTMV_APP_ID=knapsack .venv/bin/python examples/first_run.py
"""

import asyncio
import json
import os
from pathlib import Path

import asyncrun

APP_ID = os.environ.get("NEXTMV_APP_ID", "my-app")
INPUT = Path(__file__).parent / "knapsack" / "input.json"


async def main() -> None:
    # The key and the URL come from NEXTMV_API_KEY and NEXTMV_ENDPOINT (the cloud when unset).
    async with asyncrun.AsyncClient() as client:
        app = client.application(APP_ID)
        result = await app.new_run_with_result(
            input=json.loads(INPUT.read_text()),
            polling_options=asyncrun.PollingOptions(max_duration=600),
        )
        print(f"run {result.id}: {result.metadata.status_v2}")
        print(json.dumps(result.output, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
