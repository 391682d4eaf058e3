"""Coalesced status reads against the emulator: which requests answer which runs, counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from fake_clock import FakeClock

import asyncrun
from asyncrun.application import AsyncApplication
from asyncrun.batch.status_reads import News, StatusReads
from asyncrun.emulator import Emulator

APP = "reads-app"
PAGE = 10
EmulatorFactory = Callable[..., AbstractAsyncContextManager[Emulator]]


@asynccontextmanager
async def _app(emu: Emulator, app_id: str = APP) -> AsyncIterator[AsyncApplication]:
    limits = asyncrun.Limits(rate=asyncrun.RateLimits.unlimited())
    async with asyncrun.AsyncClient(api_key="test-key", url=emu.url, limits=limits) as client:
        yield client.application(app_id)


async def _submit(app: AsyncApplication, count: int, seconds: str) -> list[str]:
    """`count` runs one after the other (so their list order is their submission order)."""
    return [
        await app.new_run(input={"i": i}, options={"emulator.duration": seconds})
        for i in range(count)
    ]


def _tracking(
    app: AsyncApplication,
    runs: list[str],
    emu: Emulator,
    clock: Callable[[], float] = time.monotonic,
) -> StatusReads:
    """A reader answering for `runs` (in submission order); the emulator's counts restart.
    Pages are taken to come back at once until one was timed (a fresh reader in a batch
    assumes nothing and walks one page)."""
    reads = StatusReads(app, clock=clock, page_size=PAGE, page_latency=0.0)
    for run_id in runs:
        reads.track(run_id)
    emu.reset_stats()
    return reads


def _requests(emu: Emulator, suffix: str) -> int:
    return sum(
        sum(statuses.values())
        for route, statuses in emu.stats()["requests"].items()
        if route.startswith("GET ") and route.endswith(suffix)
    )


async def _read_together(
    reads: StatusReads, clock: FakeClock, runs: list[str], *, patience: float
) -> list[News]:
    """`runs` ask for news in one loop turn; then half their patience passes on the reader's
    clock, when their due set is planned."""
    asking = asyncio.gather(*(reads.read(r, patience=patience) for r in runs))
    await asyncio.sleep(0)  # the reads' tasks, scheduled first, have asked (FIFO loop order)
    clock.now += patience / 2
    return await asyncio.wait_for(asking, 30)


def _pages_and_reads(emu: Emulator) -> tuple[int, int]:
    """(list pages, metadata reads) the emulator answered since its counts restarted."""
    return _requests(emu, "/runs"), _requests(emu, "/metadata")


@pytest.fixture
async def emu(emulator_factory: EmulatorFactory) -> AsyncIterator[Emulator]:
    async with emulator_factory(page_size=PAGE) as running:
        yield running


async def test_runs_due_together_are_answered_by_pages_not_single_reads(emu: Emulator) -> None:
    async with _app(emu) as app:
        done = await _submit(app, 30, "0")
        running = await _submit(app, 30, "1000")
        reads = _tracking(app, done + running, emu)
        news = await asyncio.gather(*(reads.read(r) for r in done + running))
        await reads.aclose()
    assert [n.status for n in news] == ["succeeded"] * 30 + ["running"] * 30
    assert _pages_and_reads(emu) == (6, 0)
    assert reads.stats["single_reads"] == 0


async def test_few_deep_runs_read_their_own_metadata(emu: Emulator) -> None:
    """Two of the oldest of 60 runs want news: 6 pages would answer them, 2 reads cost less."""
    async with _app(emu) as app:
        runs = await _submit(app, 60, "1000")
        reads = _tracking(app, runs, emu)
        news = await asyncio.gather(reads.read(runs[0]), reads.read(runs[1]))
        await reads.aclose()
    assert {n.status for n in news} == {"running"}
    assert all(n.info is None for n in news)  # a run in flight keeps its status, not the answer
    assert _pages_and_reads(emu) == (0, 2)


async def test_newest_runs_by_a_page_the_oldest_by_their_own_reads(emu: Emulator) -> None:
    """Due: the 12 newest of 100 runs and the 2 oldest. Two pages answer the 12; walking 10
    pages for 2 more would cost more than their 2 reads."""
    async with _app(emu) as app:
        runs = await _submit(app, 100, "1000")
        reads = _tracking(app, runs, emu)
        due = runs[:2] + runs[-12:]
        news = await asyncio.gather(*(reads.read(r) for r in due))
        await reads.aclose()
    assert {n.status for n in news} == {"running"}
    assert _pages_and_reads(emu) == (2, 2)


async def test_other_batches_and_apps_interleaved_still_answer_every_run(
    emu: Emulator,
) -> None:
    """Between each two runs of ours, two runs of another batch of the same app (and runs of
    another app). Depths are underestimated at first: passed runs fall back to their own read,
    and the next walk knows the share of foreign runs. Every answer is the run's own status."""
    async with _app(emu) as app, _app(emu, "other-app") as other:
        ours: list[str] = []
        for i in range(40):
            ours += await _submit(app, 1, "0" if i % 2 else "1000")
            await _submit(app, 2, "0")
            await _submit(other, 1, "0")
        # Pages answer at once on the reader's clock: how deep a walk goes is decided by the
        # depths it estimates, not by how slowly a loaded machine answers its pages.
        clock = FakeClock()  # still: it moves only by half the patience of each round
        reads = _tracking(app, ours, emu, clock)
        first = await _read_together(reads, clock, ours, patience=1.0)
        singles, pages = reads.stats["single_reads"], _requests(emu, "/runs")
        second = await _read_together(reads, clock, ours, patience=1.0)
        expected = [(await app.run_metadata(r)).metadata.status_v2 for r in ours]
        await reads.aclose()
    assert [n.status for n in first] == expected == [n.status for n in second]
    assert expected == ["running", "succeeded"] * 20
    assert singles > 0  # the first walk stopped where 40 runs of ours alone would end
    # The second round knows where the pages showed each run: 12 pages answer all but the
    # oldest, never seen on a page and estimated just below the 12th (a 13th page would cost
    # as much as its own read).
    assert (_requests(emu, "/runs") - pages, reads.stats["single_reads"] - singles) == (12, 1)


async def test_a_run_seen_final_on_a_page_wakes_from_its_sleep(emu: Emulator) -> None:
    async with _app(emu) as app:
        older = await _submit(app, 10, "1000")
        [sleeper] = await _submit(app, 1, "0")
        newer = await _submit(app, 10, "1000")
        others = older + newer
        reads = _tracking(app, [*older, sleeper, *newer], emu)
        nap = asyncio.ensure_future(reads.sleep(sleeper, 3600))
        await asyncio.sleep(0)
        await asyncio.gather(*(reads.read(r) for r in others))  # a walk passes the sleeper
        await asyncio.wait_for(nap, 30)
        news = await reads.read(sleeper)
        await reads.aclose()
    assert news.status == "succeeded" and news.info is None
    # Two pages pass the sleeper; the oldest run is cheaper to read than a third page.
    assert _pages_and_reads(emu) == (2, 1)
    assert reads.stats["woken"] == 1


async def test_a_direct_read_is_the_result_read(emu: Emulator) -> None:
    async with _app(emu) as app:
        runs = await _submit(app, 20, "0")
        reads = _tracking(app, runs, emu)
        news = await reads.read(runs[0], direct=True)
        await reads.aclose()
    assert news.final and news.result is not None
    assert news.result.output["input_digest"]
    assert _pages_and_reads(emu) == (0, 0)
    assert _requests(emu, "/runs/{run_id}") == 1


async def test_a_failing_page_is_every_waiting_run_s_failed_poll(
    emulator_factory: EmulatorFactory,
) -> None:
    faults = asyncrun.emulator.FaultProfile(rate_500=1.0)
    async with emulator_factory(page_size=PAGE) as emu, _app(emu) as app:
        runs = await _submit(app, 20, "1000")
        async with (
            emulator_factory(page_size=PAGE, faults=faults) as broken,
            _app(broken) as broken_app,
        ):
            reads = StatusReads(broken_app, page_size=PAGE, page_latency=0.0)
            for run_id in runs:
                reads.track(run_id)
            answers: list[Any] = await asyncio.gather(
                *(reads.read(r) for r in runs), return_exceptions=True
            )
            await reads.aclose()
    assert all(isinstance(a, asyncrun.ServerError) for a in answers)
    assert reads.stats["pages"] == 0 and reads.stats["single_reads"] == 0


async def test_runs_with_patience_wait_for_company(emu: Emulator) -> None:
    """The two oldest of 40 runs want news first: alone, their own reads are cheaper than 4
    pages. With patience they wait, the 25 newest join them a loop turn later, and 4 pages
    answer all 27 (3 pages and 2 reads without the wait)."""
    async with _app(emu) as app:
        runs = await _submit(app, 40, "1000")
        reads = _tracking(app, runs, emu)
        oldest = [asyncio.ensure_future(reads.read(r, patience=1.0)) for r in runs[:2]]
        await asyncio.sleep(0)
        newest = [asyncio.ensure_future(reads.read(r, patience=1.0)) for r in runs[-25:]]
        news = await asyncio.gather(*oldest, *newest)
        await reads.aclose()
    assert {n.status for n in news} == {"running"}
    assert _pages_and_reads(emu) == (4, 0)


async def test_a_direct_run_does_not_wait_and_is_no_walk_s_target(emu: Emulator) -> None:
    """A run expected final reads its result at once, even when others wait for a walk."""
    async with _app(emu) as app:
        runs = await _submit(app, 30, "0")
        reads = _tracking(app, runs, emu)
        waiting = [asyncio.ensure_future(reads.read(r, patience=1.0)) for r in runs[1:]]
        direct = await reads.read(runs[0], direct=True, patience=1.0)
        assert not any(w.done() for w in waiting)
        await asyncio.gather(*waiting)
        await reads.aclose()
    assert direct.result is not None and direct.final
    assert _pages_and_reads(emu) == (3, 0)
    assert _requests(emu, "/runs/{run_id}") == 1


async def test_batches_side_by_side_each_get_their_own_runs_results(
    emulator_factory: EmulatorFactory,
) -> None:
    """Two batches of one app and a batch of another app run at once, their runs interleaved in
    the lists: every run's status and result are its own, and list pages answered part of the
    polls (each batch's pages show the others' runs too)."""
    from asyncrun import Scenario, run_batch_all

    from .conftest import FAST, digest, fast_client

    def scenarios(prefix: str) -> list[Scenario]:
        return [
            Scenario(
                key=f"{prefix}{i}",
                input={"batch": prefix, "i": i},
                options={"emulator.duration": f"{0.2 + 0.01 * (i % 7):.2f}"},
            )
            for i in range(60)
        ]

    async with emulator_factory(page_size=PAGE) as emu, fast_client(emu.url) as client:
        shared, other = client.application(APP), client.application("other-app")
        batches = [(shared, "a"), (shared, "b"), (other, "c")]
        results = await asyncio.gather(
            *(
                run_batch_all(
                    app, scenarios(p), batch_tag=p, max_in_flight=60, polling_options=FAST
                )
                for app, p in batches
            )
        )
    for (_, prefix), outcomes in zip(batches, results, strict=True):
        assert [o.status for o in outcomes] == ["succeeded"] * 60
        assert [o.output["input_digest"] for o in outcomes] == [
            digest(s.input) for s in scenarios(prefix)
        ]
    assert _requests(emu, "/runs") > 0
    assert emu.stats()["runs_created"] == 180


async def test_after_many_runs_read_alone_runs_stop_waiting_for_company(emu: Emulator) -> None:
    """Deep runs want news one after the other: no walk pays, each is read alone. After
    `solo_after` of them in a row, runs read at once (not planned, no patience) for
    `solo_seconds`; then company is tried again, and a due set of the newest runs is
    answered by a page as before."""
    clock = FakeClock(100.0)
    async with _app(emu) as app:
        runs = await _submit(app, 40, "1000")
        reads = StatusReads(
            app, clock=clock, page_size=PAGE, page_latency=0.0, solo_after=2, solo_seconds=5.0
        )
        for run_id in runs:
            reads.track(run_id)
        emu.reset_stats()
        for run_id in runs[:2]:  # the oldest, one at a time: read alone after planning
            await asyncio.wait_for(reads.read(run_id), 30)
        assert (reads.stats["alone"], reads.stats["solo"]) == (2, 0)
        await asyncio.wait_for(reads.read(runs[2]), 30)  # at once
        assert (reads.stats["alone"], reads.stats["solo"]) == (2, 1)
        clock.now += 5.0
        newest = await asyncio.wait_for(asyncio.gather(*(reads.read(r) for r in runs[-10:])), 30)
        await reads.aclose()
    assert {n.status for n in newest} == {"running"}
    assert reads.stats["solo"] == 1
    assert _pages_and_reads(emu) == (1, 3)  # one page for the 10 newest, 3 reads alone
