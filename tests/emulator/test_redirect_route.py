"""The emulator's redirect prefix, `/_emulator/redirect/{status[@host]}/...`, as a client sees it,
and the official SDK (requests) following it: the behaviour asyncrun's redirects copy."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import aiohttp
import nextmv
import pytest
import requests
from nextmv import cloud

from asyncrun.emulator import Emulator, ThreadedEmulator

PREFIX = "/_emulator/redirect/"
POLL = nextmv.PollingOptions(
    initial_delay=0.02, delay=0.02, backoff=0, jitter=0, max_delay=0.1, max_duration=30
)


def canonical_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def test_the_prefix_answers_its_status_with_the_real_path_as_location(
    emulator: Emulator,
) -> None:
    base = emulator.url
    async with aiohttp.ClientSession() as http:
        for how, location in [
            ("301", "/v1/applications/a/runs?x=1&y=2"),
            ("308@localhost", f"http://localhost:{emulator.port}/v1/applications/a/runs?x=1&y=2"),
            ("302@other.test:9", "http://other.test:9/v1/applications/a/runs?x=1&y=2"),
        ]:
            url = f"{base}{PREFIX}{how}/v1/applications/a/runs?x=1&y=2"
            async with http.post(url, allow_redirects=False, data=b"{}") as resp:
                assert resp.status == int(how[:3])
                assert resp.headers["Location"] == location
        nested = f"{base}{PREFIX}307{PREFIX}303/v1/x"
        async with http.get(nested, allow_redirects=False) as resp:
            assert resp.headers["Location"] == f"{PREFIX}303/v1/x"
        async with http.get(f"{base}{PREFIX}200/v1/x", allow_redirects=False) as resp:
            assert resp.status == 400
            assert "redirect status must be one of" in (await resp.json())["error"]
    assert emulator.stats()["runs_created"] == 0


def test_the_official_sdk_follows_a_307_with_one_run_and_its_body(
    emulator_thread: ThreadedEmulator,
) -> None:
    client = cloud.Client(api_key="test-key", url=emulator_thread.url + PREFIX + "307/")
    app = cloud.Application(client=client, id="sdk-redir")
    data = {"n": 5, "items": [1, 2, 3]}
    run_id = app.new_run(input=data)
    result = app.run_result_with_polling(run_id, polling_options=POLL)
    assert result.output["input_digest"] == canonical_digest(data)
    assert emulator_thread.stats()["runs_created"] == 1


def test_the_official_sdk_drops_the_key_for_another_host(
    emulator_thread: ThreadedEmulator,
) -> None:
    client = cloud.Client(api_key="test-key", url=emulator_thread.url + PREFIX + "307@localhost/")
    app = cloud.Application(client=client, id="sdk-redir")
    with pytest.raises(requests.HTTPError, match="401"):
        app.run_information("run-1")
    last = emulator_thread.stats()["recent_requests"][-1]
    assert last["headers"]["Host"] == f"localhost:{emulator_thread.port}"
    assert last["authorized"] is False
