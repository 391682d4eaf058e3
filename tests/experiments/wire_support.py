"""The same experiment call made by the official SDK (sync, in a thread) and by asyncrun against
one recording server: the requests each sent, normalised for comparison."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from nextmv import cloud

import asyncrun
from tests.client.conftest import KEY, fast_client
from tests.client.scripted_server import Recorded, Reply, ScriptedServer

from . import payloads as p

Request = tuple[str, str, tuple[tuple[str, str], ...], Any]

# Ids both clients generate at random (the SDK's safe_id / safe_name_and_id, ours alike).
_GENERATED = re.compile(r"\b(man-input|inpset)-[a-z0-9-]*[a-z0-9]{8}\b")
_GENERATED_NAME = re.compile(r"\b(Man Input|Inpset)( [A-Z0-9][a-z0-9]*)+")


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, str):
        return _GENERATED_NAME.sub(r"<\1 name>", _GENERATED.sub(r"<\1-id>", value))
    return value


def requests_of(recorded: list[Recorded]) -> list[Request]:
    out: list[Request] = []
    for r in recorded:
        try:
            body = json.loads(r.body) if r.body else None
        except ValueError:
            body = "<bytes>"
        if r.path.startswith("/_upload/"):
            body = "<upload>"  # the data's bytes (serialised by each client its own way)
        query = tuple(sorted(r.query.items()))
        out.append((r.method, _normalised(r.path), query, _normalised(body)))
    return out


def script_all(server: ScriptedServer) -> ScriptedServer:
    """Every experiment route answers as the SDK's models describe."""
    done = Reply(200, body={})
    items = {"next_page_token": ""}
    s = server.script
    s("POST", f"{p.EXP}/inputsets", default=Reply(200, body=p.INPUT_SET))
    s("GET", f"{p.EXP}/inputsets", default=Reply(200, body={**items, "items": [p.INPUT_SET]}))
    for set_id, answer in (("is-1", p.INPUT_SET), ("is-2", p.MANAGED_INPUT_SET)):
        s("GET", f"{p.EXP}/inputsets/{set_id}", default=Reply(200, body=answer))
        s("PUT", f"{p.EXP}/inputsets/{set_id}", default=Reply(200, body=answer))
        s("DELETE", f"{p.EXP}/inputsets/{set_id}", default=done)
    s("POST", f"{p.EXP}/batch", default=Reply(200, body={"id": "b-1"}))
    s("GET", f"{p.EXP}/batch", default=Reply(200, body={**items, "items": [p.batch_metadata()]}))
    s("GET", f"{p.EXP}/batch/b-1", default=Reply(200, body=p.batch_experiment()))
    s("GET", f"{p.EXP}/batch/b-1/runs", default=Reply(200, body=p.BATCH_RUNS))
    s("GET", f"{p.EXP}/batch/b-1/metadata", default=Reply(200, body=p.batch_metadata()))
    s("PATCH", f"{p.EXP}/batch/b-1", default=Reply(200, body=p.batch_metadata()))
    s("DELETE", f"{p.EXP}/batch/b-1", default=done)
    s("POST", f"{p.EXP}/acceptance", default=Reply(200, body=p.acceptance_test("started")))
    s(
        "GET",
        f"{p.EXP}/acceptance",
        default=Reply(200, body={**items, "items": [p.acceptance_test()]}),
    )
    s("GET", f"{p.EXP}/acceptance/at-1", default=Reply(200, body=p.acceptance_test()))
    s("PATCH", f"{p.EXP}/acceptance/at-1", default=Reply(200, body=p.acceptance_test()))
    s("DELETE", f"{p.EXP}/acceptance/at-1", default=done)
    s("GET", f"/v1/applications/{p.APP}/instances/inst-a", default=Reply(200, body=p.INSTANCE))
    upload = {"upload_id": "up-1", "upload_url": f"{server.url}/_upload/up-1?sig=x"}
    s("POST", f"/v1/applications/{p.APP}/runs/uploadurl", default=Reply(200, body=upload))
    s("PUT", "/_upload/up-1", default=Reply(200))
    s("POST", f"/v1/applications/{p.APP}/inputs", default=Reply(200, body={"id": "mi-new"}))
    return server


async def both(
    server: ScriptedServer,
    sdk_call: Callable[[cloud.Application], Any],
    our_call: Callable[[asyncrun.AsyncApplication], Awaitable[Any]],
) -> tuple[list[Request], list[Request], Any, Any]:
    """The SDK's call, then ours, each on a clean log: (SDK requests, ours, SDK value, ours)."""
    sdk_app = cloud.Application(client=cloud.Client(api_key=KEY, url=server.url), id=p.APP)
    server.requests.clear()
    sdk_value = await asyncio.to_thread(sdk_call, sdk_app)
    sdk_requests = requests_of(server.requests)
    server.requests.clear()
    async with fast_client(server.url) as client:
        our_value = await our_call(client.application(p.APP))
    return sdk_requests, requests_of(server.requests), sdk_value, our_value
