"""A create whose answer was lost is never sent twice: the entity is looked up by the id the
client chose; found, it is returned; not found, the ambiguity is raised."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import asyncrun
from asyncrun import AmbiguousSubmitError
from tests.client.conftest import fast_client
from tests.client.scripted_server import DROP, Reply, ScriptedServer

from . import payloads as p

Call = Callable[[asyncrun.AsyncApplication], Awaitable[Any]]
CASES: list[tuple[str, str, str, Any, Call]] = [
    (
        "input set",
        f"{p.EXP}/inputsets",
        f"{p.EXP}/inputsets/is-1",
        p.INPUT_SET,
        lambda a: a.new_input_set(id="is-1", run_ids=["r1"]),
    ),
    (
        "batch experiment",
        f"{p.EXP}/batch",
        f"{p.EXP}/batch/b-1/metadata",
        p.batch_metadata(),
        lambda a: a.new_batch_experiment(id="b-1", runs=[{"input_id": "i", "instance_id": "x"}]),
    ),
    (
        "acceptance test",
        f"{p.EXP}/acceptance",
        f"{p.EXP}/acceptance/at-1",
        p.acceptance_test(),
        lambda a: a.new_acceptance_test("x", "y", [p.METRIC], id="at-1", input_set_id="is-1"),
    ),
]


each_case = pytest.mark.parametrize(
    ("post", "get", "answer", "call"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        s.script("GET", f"{p.EXP}/inputsets/is-1", default=Reply(200, body=p.INPUT_SET))
        s.script("POST", f"{p.EXP}/batch", default=Reply(200, body={"id": "at-1"}))
        yield s


@each_case
async def test_a_lost_answer_is_looked_up(
    server: ScriptedServer, post: str, get: str, answer: Any, call: Call
) -> None:
    server.script("POST", post, DROP)
    server.script("GET", get, default=Reply(200, body=answer))
    async with fast_client(server.url) as client:
        made = await call(client.application(p.APP))
    assert made == "b-1" or made.id == answer["id"]
    assert len(server.calls("POST", post)) == 1


@each_case
async def test_not_found_after_a_lost_answer_stays_ambiguous(
    server: ScriptedServer, post: str, get: str, answer: Any, call: Call
) -> None:
    server.script("POST", post, DROP)
    server.script("GET", get, default=Reply(404, body={"error": "not found"}))
    async with fast_client(server.url) as client:
        with pytest.raises(AmbiguousSubmitError, match="not retried"):
            await call(client.application(p.APP))
    assert len(server.calls("POST", post)) == 1
    assert len(server.calls("GET", get)) == 1
