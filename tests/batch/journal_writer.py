"""A child process for the kill test: commits journal changes in groups, printing each key once
its commit is acknowledged, until it is killed."""

from __future__ import annotations

import asyncio
import sys

from asyncrun.batch.journal import Journal


async def main(path: str) -> None:
    async with Journal(path) as journal:
        await journal.begin(app_id="kill-app", batch_tag="tag", default_tag="tag")
        number = 0
        while True:
            keys = [f"k{number + i:07d}" for i in range(50)]
            number += 50
            claims = [journal.claim(k, f"tag/{k}") for k in keys]
            await asyncio.gather(*claims)
            updates = [
                journal.update(k, state="submitted", run_id=f"run-{k}", attempts=1) for k in keys
            ]
            await asyncio.gather(*updates)
            sys.stdout.write("".join(f"{k}\n" for k in keys))
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
