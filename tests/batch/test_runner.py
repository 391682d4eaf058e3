"""run_batch against the emulator: faults, exactly-once submission, resume, interrupts, output
files, rate limits; and the scheduler's memory bound with a fake application."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from gated_app import gated_app

from asyncrun import (
    AsyncClient,
    Limits,
    RateLimits,
    Scenario,
    Timeouts,
    run_batch,
    run_batch_all,
)
from asyncrun.batch.journal import Journal
from asyncrun.batch.runner import BatchCounters, Interrupt
from asyncrun.emulator import Emulator, FaultProfile

from .conftest import FAST, KEY, MARGIN, digest, fast_client
from .fakes import FakeApplication

Factory = Callable[..., AbstractAsyncContextManager[Emulator]]


def numbered(count: int, prefix: str = "s") -> list[Scenario]:
    return [Scenario(key=f"{prefix}{i}", input={"scenario": i}) for i in range(count)]


def check_exactly_once(emu: Emulator, names: set[str]) -> None:
    per_name = emu.stats()["runs_per_name"]
    assert set(per_name) == names
    assert {n for n, count in per_name.items() if count != 1} == set()


@pytest.mark.slow
async def test_500_scenarios_through_faults_each_run_once_with_its_own_result(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    faults = FaultProfile(
        rate_429=0.01,
        rate_429_bare=0.01,
        rate_500=0.01,
        rate_502=0.01,
        rate_503=0.01,
        drop=0.02,
        lost_create=0.04,
    )
    scenarios = numbered(500)
    async with (
        emulator_factory(faults=faults, time_scale=20, seed=5) as emu,
        fast_client(emu.url) as client,
    ):
        app = client.application("sweep-app")
        outcomes = await run_batch_all(
            app,
            iter(scenarios),
            max_in_flight=100,
            journal=tmp_path / "j.db",
            batch_tag="t500",
            polling_options=FAST,
            submit_margin=MARGIN,
        )
        stats = emu.stats()
        check_exactly_once(emu, {f"t500/s{i}" for i in range(500)})
    assert [o.key for o in outcomes] == [s.key for s in scenarios]
    assert [(o.key, o.error) for o in outcomes if o.status != "succeeded"] == []
    for scenario, outcome in zip(scenarios, outcomes, strict=True):
        assert outcome.output["input_digest"] == digest(scenario.input)
    # The faults did happen, including answers lost after the run was created.
    assert stats["faults"].get("lost_create", 0) >= 5
    assert stats["runs_created"] == 500
    async with Journal(tmp_path / "j.db") as journal:
        assert await journal.counts() == {("terminal", "succeeded"): 500}


async def test_resume_skips_reattaches_reconciles_and_submits_only_the_rest(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "j.db"
    async with fast_client(emulator.url) as client:
        app = client.application("resume-app")
        inflight_id = await app.new_run(input={"scenario": "inflight"}, name="tag/inflight")
        ghost_id = await app.new_run(input={"scenario": "ghost"}, name="tag/ghost")
        async with Journal(path) as journal:
            await journal.begin(app_id=app.id, batch_tag="tag", default_tag="tag")
            for key in ("done", "inflight", "ghost", "never"):
                await journal.claim(key, f"tag/{key}")
            await journal.update("done", state="terminal", status="succeeded", run_id="run-old")
            await journal.update("inflight", state="submitted", run_id=inflight_id, attempts=1)
            # Both crashed between committing "submitting" and learning the run id: "ghost"
            # reached the cloud, "never" did not.
            await journal.update("ghost", state="submitting", attempts=1)
            await journal.update("never", state="submitting", attempts=1)
        emulator.reset_stats()
        scenarios = [
            Scenario(key=k, input={"scenario": k})
            for k in ("done", "inflight", "ghost", "never", "fresh")
        ]
        outcomes = {
            o.key: o
            for o in await run_batch_all(
                app, scenarios, journal=path, polling_options=FAST, submit_margin=MARGIN
            )
        }
    assert outcomes["done"].resumed and outcomes["done"].run_id == "run-old"
    assert outcomes["done"].result is None  # finished earlier: not fetched again
    assert outcomes["inflight"].run_id == inflight_id and outcomes["inflight"].resumed
    assert outcomes["ghost"].run_id == ghost_id and outcomes["ghost"].resumed
    assert not outcomes["never"].resumed and outcomes["never"].attempts == 2
    assert {k: o.status for k, o in outcomes.items()} == dict.fromkeys(outcomes, "succeeded")
    for key in ("inflight", "ghost", "never", "fresh"):
        assert outcomes[key].output["input_digest"] == digest({"scenario": key})
    assert emulator.stats()["requests"]["POST /v1/applications/{app_id}/runs"] == {"200": 2}
    check_exactly_once(emulator, {f"tag/{k}" for k in ("inflight", "ghost", "never", "fresh")})


async def test_one_scenario_failing_never_stops_the_batch(
    emulator: Emulator, tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"from": "file"}')
    scenarios: list[Any] = [
        Scenario(key="ok", input={"a": 1}),
        Scenario(key="missing-file", input_file=tmp_path / "nope.json"),
        Scenario(key="infeasible", input={"a": 2}, options={"emulator.fail": "no solution"}),
        Scenario(key="ok", input={"a": 3}),  # the same key twice
        {"key": "from-dict", "input_file": str(good)},
        {"key": "bad-dict"},
    ]
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("fail-app"), scenarios, polling_options=FAST, batch_tag="f"
        )
    summary = [(o.key, o.status) for o in outcomes]
    # Both "ok" outcomes come first (input order); which of the two is the duplicate depends
    # on which task claimed the key first.
    assert sorted(summary[:2]) == [("ok", "error"), ("ok", "succeeded")]
    assert summary[2:] == [
        ("missing-file", "error"),
        ("infeasible", "failed"),
        ("from-dict", "succeeded"),
        ("bad-dict", "error"),
    ]
    by_status = {o.status: o for o in outcomes}
    assert "no solution" in (by_status["failed"].error or "")
    assert {o.error for o in outcomes[:2]} == {None, "duplicate scenario key in this batch"}
    assert "cannot read input file" in (outcomes[2].error or "")
    assert outcomes[4].output["input_digest"] == digest({"from": "file"})


async def _run_until_all_running(
    app: Any, scenarios: list[Scenario], journal: Path, policy: Interrupt
) -> BatchCounters:
    counters = BatchCounters()

    async def consume() -> None:
        async for _ in run_batch(
            app,
            scenarios,
            journal=journal,
            on_interrupt=policy,
            polling_options=FAST,
            counters=counters,
            batch_tag="int",
        ):
            raise AssertionError("no run should finish before the interrupt")

    task = asyncio.create_task(consume())
    for _ in range(500):
        if counters.running == len(scenarios):
            break
        await asyncio.sleep(0.01)
    assert counters.running == len(scenarios)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return counters


@pytest.mark.parametrize("policy", ["detach", "cancel"])
async def test_interrupt_policies(
    emulator_factory: Factory, tmp_path: Path, policy: Interrupt
) -> None:
    scenarios = [Scenario(key=f"long{i}", input={"i": i}) for i in range(10)]
    path = tmp_path / "j.db"
    gate = tmp_path / "gate"  # the runs last until it is opened: none can end before the checks
    async with (
        emulator_factory(app_command=gated_app(gate)) as emu,
        fast_client(emu.url) as client,
    ):
        app = client.application("int-app")
        await _run_until_all_running(app, scenarios, path, policy)
        statuses = {r["name"]: r["status"] for r in emu.runs()}
        async with Journal(path) as journal:
            states = {row.state for row in await journal.rows()}
        assert states == {"submitted"}
        if policy == "cancel":
            assert set(statuses.values()) == {"canceled"}
            return
        assert set(statuses.values()) <= {"queued", "running"}
        # Detached runs kept going; the same journal picks them up without submitting again.
        gate.touch()
        outcomes = await run_batch_all(app, scenarios, journal=path, polling_options=FAST)
        assert {o.status for o in outcomes} == {"succeeded"}
        assert all(o.resumed for o in outcomes)
        check_exactly_once(emu, {f"int/long{i}" for i in range(10)})


@pytest.mark.slow
async def test_cancel_on_interrupt_finds_and_cancels_runs_whose_submit_was_unanswered(
    emulator_factory: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every API answer takes 2 s, so the interrupt lands while the 5 POSTs are unanswered;
    # the emulator still creates their runs (as a server does when the client hangs up).
    slow = FaultProfile(slow=1.0, slow_seconds=2.0)
    scenarios = [
        Scenario(key=f"late{i}", input={"i": i}, options={"emulator.duration": "60"})
        for i in range(5)
    ]
    path = tmp_path / "j.db"
    async with (
        emulator_factory(faults=slow) as emu,
        fast_client(emu.url, timeouts=Timeouts()) as client,
    ):
        counters = BatchCounters()

        async def consume() -> None:
            async for _ in run_batch(
                client.application("late-app"),
                scenarios,
                journal=path,
                on_interrupt="cancel",
                polling_options=FAST,
                counters=counters,
                batch_tag="late",
            ):
                raise AssertionError("no run should finish before the interrupt")

        task = asyncio.create_task(consume())
        for _ in range(1000):  # the emulator counts a slow answer as it starts waiting
            if emu.stats()["faults"].get("slow", 0) >= 5:
                break
            await asyncio.sleep(0.01)
        assert emu.stats()["faults"]["slow"] == 5  # the 5 POSTs, and nothing else yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(500):  # the server creates the runs once their 2 s are over
            if len(runs := emu.runs()) == 5:
                break
            await asyncio.sleep(0.02)
    assert counters.running == 0  # none of the POSTs was answered
    assert sorted(r["name"] for r in runs) == [f"late/late{i}" for i in range(5)]
    assert {r["status"] for r in runs} == {"canceled"}
    assert "submissions were unanswered" not in caplog.text


async def test_result_files_stay_inside_the_output_dir(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    scenarios = [
        Scenario(key="inst-7/seed=1", input={"k": 1}),
        Scenario(key="../escape", input={"k": 2}),
        Scenario(key="failing", input={"k": 3}, options={"emulator.fail": "boom"}),
    ]
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("files-app"), scenarios, output_dir=out, polling_options=FAST
        )
    inputs = {s.key: s.input for s in scenarios}
    files, documents = await asyncio.to_thread(_read_tree, out, outcomes)
    assert len(files) == 3
    assert "inst-7/seed=1.json" in files
    for outcome, document in zip(outcomes, documents, strict=True):
        if outcome.status == "succeeded":
            assert document == outcome.output
            assert document["input_digest"] == digest(inputs[outcome.key])
        else:
            assert document == {"run_id": outcome.run_id, "status": "failed", "error": "boom"}


def _read_tree(out: Path, outcomes: list[Any]) -> tuple[list[str], list[Any]]:
    """Every file under `out`, and each outcome's result file (checked to be inside `out`)."""
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    documents = []
    for outcome in outcomes:
        location = Path(outcome.result_location or "")
        assert location.resolve().is_relative_to(out.resolve())
        documents.append(json.loads(location.read_text()))
    return files, documents


async def test_the_journal_never_holds_the_api_key(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with fast_client(emulator.url) as client:
        await run_batch_all(
            client.application("secret-app"), numbered(5), journal=path, polling_options=FAST
        )
    contents = await asyncio.to_thread(lambda: [f.read_bytes() for f in tmp_path.iterdir()])
    assert contents
    assert [c for c in contents if KEY.encode() in c] == []


@pytest.mark.slow
async def test_realistic_rate_profile_gets_almost_no_429(emulator_factory: Factory) -> None:
    limits = Limits(max_connections=50, rate=RateLimits.standard())
    async with (
        emulator_factory(rate_profile="realistic", time_scale=10) as emu,
        AsyncClient(KEY, emu.url, limits=limits) as client,
    ):
        outcomes = await run_batch_all(
            client.application("rate-app"), numbered(25), max_in_flight=25, polling_options=FAST
        )
        stats = emu.stats()
    assert {o.status for o in outcomes} == {"succeeded"}
    assert sum(stats["rate_limited"].values()) <= 1
    assert stats["runs_created"] == 25


@pytest.mark.slow
async def test_20000_scenarios_in_bounded_memory() -> None:
    app = FakeApplication()
    counters = BatchCounters()
    total = 20_000

    def scenarios() -> Any:
        for i in range(total):
            yield Scenario(key=f"scenario-{i:06d}", input={"i": i})

    tracemalloc.start()
    try:
        seen = 0
        batch = run_batch(
            app, scenarios(), max_in_flight=200, counters=counters, polling_options=FAST
        )
        async for outcome in batch:
            assert outcome.ok
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total and app.submits == total
    assert counters.max_ahead <= 200 + 1
    # 20,000 Scenario objects alone take about 18 MB; the batch never holds them.
    assert peak < 6_000_000


async def test_breaking_out_early_detaches_and_keeps_the_journal(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "j.db"
    async with fast_client(emulator.url) as client:
        app = client.application("early-app")
        outcomes = run_batch(app, numbered(20), journal=path, max_in_flight=5, polling_options=FAST)
        async with contextlib.aclosing(outcomes):
            async for _ in outcomes:
                break
        async with Journal(path) as journal:
            counts = await journal.counts()
        assert counts[("terminal", "succeeded")] >= 1
        rest = await run_batch_all(app, numbered(20), journal=path, polling_options=FAST)
    assert {o.status for o in rest} == {"succeeded"}
    assert emulator.stats()["runs_created"] == 20


async def test_polling_that_gives_up_leaves_the_run_to_resume(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "j.db"
    scenarios = [Scenario(key="slow", input={"s": 1}, options={"emulator.duration": "0.5"})]
    impatient = FAST.model_copy(update={"max_tries": 1})
    async with emulator_factory(time_scale=1.0) as emu, fast_client(emu.url) as client:
        app = client.application("giveup-app")
        [first] = await run_batch_all(app, scenarios, journal=path, polling_options=impatient)
        assert first.status == "error" and first.run_id is not None
        assert "PollingTimeoutError" in (first.error or "")
        async with Journal(path) as journal:
            row = await journal.get("slow")
        assert row is not None and row.state == "submitted" and row.run_id == first.run_id
        [second] = await run_batch_all(app, scenarios, journal=path, polling_options=FAST)
        assert second.status == "succeeded" and second.run_id == first.run_id and second.resumed
        assert emu.stats()["runs_created"] == 1


async def test_an_async_source_in_input_order() -> None:
    app = FakeApplication()

    async def source() -> AsyncIterator[Scenario]:
        for i in range(300):
            await asyncio.sleep(0)
            yield Scenario(key=f"a{i}", input={"i": i})

    outcomes = await run_batch_all(app, source(), max_in_flight=7, polling_options=FAST)
    assert [o.key for o in outcomes] == [f"a{i}" for i in range(300)]
    assert app.submits == 300 and {o.status for o in outcomes} == {"succeeded"}
