"""A client that makes only API calls never imports aiohttp (about 20 MB of a batch's memory):
it carries presigned transfers only, and is imported by the first one."""

from __future__ import annotations

import asyncio
import sys

from asyncrun.emulator import Emulator
from tests.conftest import TEST_KEY

CHILD = """
import asyncio, sys
import asyncrun, asyncrun.cli

async def main(url):
    async with asyncrun.AsyncClient(api_key=sys.argv[2], url=url) as client:
        app = client.application("imports-app")
        run_id = await app.new_run(input={"a": 1})
        await app.run_metadata(run_id)
        print("after API calls:", "aiohttp" in sys.modules)
        await app.new_run(input={"big": "x" * (6 * 1024 * 1024)})  # uploaded: over 5 MiB
        print("after an upload:", "aiohttp" in sys.modules)

asyncio.run(main(sys.argv[1]))
"""


async def test_aiohttp_is_imported_by_the_first_presigned_transfer_only(emu: Emulator) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        emu.url,
        TEST_KEY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(), 60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["after API calls: False", "after an upload: True"]
