"""A batch's inputs uploaded once (managed inputs), metrics as outcome values, results read when
asked (also after a resume), and instances side by side, against the emulator."""

from __future__ import annotations

import asyncio
import json
import random
from os import PathLike
from pathlib import Path
from typing import Any

import pytest

from asyncrun import (
    AmbiguousSubmitError,
    BadRequestError,
    ConflictError,
    ManagedInput,
    NotFoundError,
    Scenario,
    run_batch_all,
)
from asyncrun.batch import shared_inputs
from asyncrun.batch.journal import Journal
from asyncrun.batch.scenario import with_grid
from asyncrun.batch.shared_inputs import input_id_for
from asyncrun.emulator import Emulator

from .conftest import FAST, digest, fast_client
from .fakes import FakeApplication

MIB = 1024 * 1024
SEEDS = ("seed", ["1", "2", "3", "4", "5"])


def count(emu: Emulator, method: str, suffix: str) -> int:
    routes: dict[str, dict[str, int]] = emu.stats()["requests"]
    return sum(
        sum(by_status.values())
        for route, by_status in routes.items()
        if route.startswith(method + " ") and route.endswith(suffix)
    )


def big_file(tmp_path: Path) -> tuple[Path, Any]:
    document = {"blob": "z" * (5 * MIB + 1000), "n": 1}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))
    return path, document


def alpha_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    return folder


async def test_one_upload_for_every_option_set_of_a_large_input(
    emulator: Emulator, tmp_path: Path
) -> None:
    path, document = big_file(tmp_path)
    scenarios = list(with_grid([Scenario(key="big", input_file=path)], [SEEDS]))
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("share-app"), scenarios, polling_options=FAST
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 5
    assert {o.output["input_digest"] for o in outcomes} == {digest(document)}
    assert count(emulator, "PUT", "/_storage/{key}") == 1
    assert count(emulator, "POST", "/inputs") == 1
    stats = emulator.stats()
    # The input's bytes once (not five times), plus five small outputs at most.
    size = len(json.dumps(document, separators=(",", ":")))
    assert size <= stats["bytes_stored"] < size + 5 * 2000


async def test_a_resumed_batch_does_not_upload_again(emulator: Emulator, tmp_path: Path) -> None:
    path, _ = big_file(tmp_path)
    journal = tmp_path / "sweep.db"
    base = [Scenario(key="big", input_file=path)]
    async with fast_client(emulator.url) as client:
        app = client.application("share-app")
        first = await run_batch_all(
            app, with_grid(base, [("seed", ["1", "2"])]), journal=journal, polling_options=FAST
        )
        emulator.reset_stats()
        second = await run_batch_all(
            app, with_grid(base, [SEEDS]), journal=journal, polling_options=FAST
        )
    assert [o.status for o in first + second] == ["succeeded"] * 7
    assert [o.resumed for o in second] == [True, True, False, False, False]
    assert count(emulator, "PUT", "/_storage/{key}") == 0
    assert count(emulator, "POST", "/inputs") == 0
    assert count(emulator, "GET", "/inputs/{input_id}") == 0  # the journal knew it


async def test_a_managed_input_created_before_a_crash_is_found_not_uploaded(
    emulator: Emulator, tmp_path: Path
) -> None:
    folder = alpha_dir(tmp_path)
    tag = "crashed-batch"
    async with fast_client(emulator.url) as client:
        app = client.application("share-app")
        # The earlier process created the managed input, then died before journaling it.
        await app.new_managed_input(input_id_for(tag, f"dir:{folder.resolve()}"), dir_path=folder)
        emulator.reset_stats()
        scenarios = with_grid([Scenario(key="d", dir_path=folder)], [("seed", ["1", "2", "3"])])
        outcomes = await run_batch_all(
            app, scenarios, batch_tag=tag, journal=tmp_path / "j.db", polling_options=FAST
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    assert count(emulator, "PUT", "/_storage/{key}") == 0
    assert count(emulator, "GET", "/inputs/{input_id}") == 1


async def test_text_and_directory_inputs_are_shared_small_json_stays_inline(
    emulator: Emulator, tmp_path: Path
) -> None:
    folder = alpha_dir(tmp_path)
    base = [
        Scenario(key="text", input="some text\n"),
        Scenario(key="dir", dir_path=folder),
        Scenario(key="small", input={"small": True}),
    ]
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("share-app"),
            with_grid(base, [("seed", ["1", "2", "3"])]),
            polling_options=FAST,
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 9
    assert count(emulator, "PUT", "/_storage/{key}") == 2  # the text once, the directory once
    assert count(emulator, "POST", "/inputs") == 2
    posts = [
        r["json"]
        for r in emulator.stats()["recent_requests"]
        if r["method"] == "POST" and r["path"].endswith("/runs")
    ]
    assert sum("input_id" in p for p in posts) == 6
    assert sum(p.get("input") == {"small": True} for p in posts) == 3


async def test_values_from_metrics_without_reading_results(emulator: Emulator) -> None:
    scenarios = [Scenario(key=f"m{i}", input={"m": i}) for i in range(4)]
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("metrics-app"), scenarios, polling_options=FAST, fetch_results=False
        )
        assert count(emulator, "GET", "/runs/{run_id}") == 0  # no result read
        assert all(o.result is None and o.metrics is not None for o in outcomes)
        results = await asyncio.gather(*(o.fetch_result() for o in outcomes))
    assert [o.value for o in outcomes] == [r.output["value"] for r in results]
    assert count(emulator, "GET", "/runs/{run_id}") == 4


async def test_resumed_outcomes_fetch_results_and_fill_a_new_output_dir(
    emulator: Emulator, tmp_path: Path
) -> None:
    scenarios = [Scenario(key=f"r{i}", input={"r": i}) for i in range(3)]
    journal = tmp_path / "j.db"
    async with fast_client(emulator.url) as client:
        app = client.application("resume-app")
        first = await run_batch_all(
            app, scenarios, journal=journal, output_dir=tmp_path / "a", polling_options=FAST
        )
        second = await run_batch_all(
            app, scenarios, journal=journal, output_dir=tmp_path / "b", polling_options=FAST
        )
        third = await run_batch_all(app, scenarios, journal=journal, polling_options=FAST)
        fetched = [await o.fetch_result() for o in third]
    assert all(o.resumed and o.result is None for o in third)
    assert [o.value for o in third] == [o.value for o in first]  # metrics kept in the journal
    assert [r.output for r in fetched] == [o.output for o in first]
    for outcome in first:
        written = json.loads((tmp_path / "b" / f"{outcome.key}.json").read_text())
        assert written == outcome.output
    assert [o.result_location for o in second] == [
        str(tmp_path / "b" / f"{o.key}.json") for o in first
    ]


async def test_instances_side_by_side(emulator: Emulator) -> None:
    base = [Scenario(key="s", input={"s": 1}), Scenario(key="t", input={"t": 1})]
    grid = [("instance_id", ["v1", "v2"]), ("seed", ["1"])]
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("inst-app"), with_grid(base, grid), polling_options=FAST
        )
    assert [(o.key, o.instance_id) for o in outcomes] == [
        ("s/instance_id=v1,seed=1", "v1"),
        ("s/instance_id=v2,seed=1", "v2"),
        ("t/instance_id=v1,seed=1", "v1"),
        ("t/instance_id=v2,seed=1", "v2"),
    ]
    runs = [
        r
        for r in emulator.stats()["recent_requests"]
        if r["method"] == "POST" and r["path"].endswith("/runs")
    ]
    assert sorted(r["query"]["instance_id"] for r in runs) == ["v1", "v1", "v2", "v2"]
    assert all(r["json"]["options"] == {"seed": "1"} for r in runs)


class _AnswerLost(FakeApplication):
    """Creates the managed input but loses the answer (the POST's fate is unknown)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[str, ManagedInput] = {}
        self.lookups = 0

    async def new_managed_input(
        self,
        id: str | None = None,
        *,
        input: Any = None,
        dir_path: str | PathLike[str] | None = None,
    ) -> ManagedInput:
        self.managed_inputs += 1
        if id in self.created:
            raise ConflictError("exists", status_code=409)
        self.created[str(id)] = ManagedInput(id=str(id))
        raise AmbiguousSubmitError("the answer was lost")

    async def managed_input(self, managed_input_id: str) -> ManagedInput:
        self.lookups += 1
        if self.lookups == 1:
            raise NotFoundError("not yet", status_code=404)  # before the first creation
        return self.created[managed_input_id]


async def test_an_unanswered_managed_input_creation_is_read_back_not_repeated() -> None:
    app = _AnswerLost()
    scenarios = with_grid([Scenario(key="t", input="text input")], [("seed", ["1", "2", "3"])])
    outcomes = await run_batch_all(app, scenarios, polling_options=FAST)
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    assert app.managed_inputs == 1 and app.lookups == 2 and app.submits == 3


class _RefusesOnce(FakeApplication):
    """Refuses the first managed input (a definite 400), accepts the next."""

    async def new_managed_input(
        self,
        id: str | None = None,
        *,
        input: Any = None,
        dir_path: str | PathLike[str] | None = None,
    ) -> ManagedInput:
        self.managed_inputs += 1
        if self.managed_inputs == 1:
            raise BadRequestError("refused", status_code=400)
        return ManagedInput(id=str(id))


async def test_a_failed_managed_input_is_tried_again_by_a_later_run() -> None:
    app = _RefusesOnce()
    scenarios = with_grid([Scenario(key="t", input="text input")], [("seed", ["1", "2"])])
    outcomes = await run_batch_all(app, scenarios, polling_options=FAST, max_in_flight=1)
    assert [o.status for o in outcomes] == ["error", "succeeded"]
    assert "refused" in (outcomes[0].error or "")
    assert app.managed_inputs == 2


async def test_memory_of_managed_inputs_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_inputs, "_REMEMBERED", 3)
    app = FakeApplication()
    texts = [Scenario(key=f"t{i}", input=f"text {i}") for i in range(10)]
    async with Journal(None) as journal:
        await journal.begin(app_id=app.id, batch_tag="b", default_tag="b")
        shared = shared_inputs.SharedInputs(
            app, journal, batch_tag="b", polling=FAST, rng=random.Random(0)
        )
        first = [(await shared.run_arguments(s))["input"] for s in texts]
        assert len(shared._pending) <= 3 + 1
        again = [(await shared.run_arguments(s))["input"] for s in texts]
        await shared.aclose()
    assert [m.id for m in again] == [m.id for m in first]
    assert app.managed_inputs == 10  # the forgotten ones came back from the journal


async def test_a_small_json_input_is_serialised_once_per_run(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncrun import _input_shaping

    encoded: list[Any] = []
    compact = _input_shaping.compact_json

    def counting(value: Any) -> str:
        encoded.append(value)
        return compact(value)

    monkeypatch.setattr(_input_shaping, "compact_json", counting)
    monkeypatch.setattr(shared_inputs, "compact_json", counting)
    scenarios = [Scenario(key=f"k{i}", input={"i": i, "name": "café"}) for i in range(20)]
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("once-app"), scenarios, polling_options=FAST
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 20
    assert len(encoded) == 20  # the batch sizes it, the client sends that text
    posts = [
        r["json"]
        for r in emulator.stats()["recent_requests"]
        if r["method"] == "POST" and r["path"].endswith("/runs")
    ]
    assert sorted(p["input"]["i"] for p in posts) == list(range(20))
    assert {p["input"]["name"] for p in posts} == {"café"}
