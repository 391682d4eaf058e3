"""The poll loop on a virtual clock: budgets, stop(), hints, transient failures, cancellation."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest
from pydantic import ValidationError

from asyncrun import (
    APIConnectionError,
    NotFoundError,
    PollingOptions,
    PollingTimeoutError,
    ServerError,
)
from asyncrun.emulator import Emulator
from asyncrun.polling import PollOutcome, poll

from .conftest import fast_client
from .fakes import BlockingSleep, FakeClock, cancel_and_wait

NOJITTER = PollingOptions(jitter=0.0)


class Source:
    """Answers polls from a script: values, or exceptions to raise."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)


async def run_poll(
    source: Source,
    options: PollingOptions,
    clock: FakeClock,
    first_poll_after: float | None = None,
) -> PollOutcome[str]:
    return await poll(
        source,
        lambda v: v == "done",
        options,
        run_id="r1",
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(0),
        first_poll_after=first_poll_after,
    )


async def test_sdk_schedule_with_defaults() -> None:
    clock = FakeClock()
    outcome = await run_poll(Source("wait", "wait", "wait", "wait", "done"), NOJITTER, clock)
    assert outcome.done and outcome.polls == 5 and outcome.value == "done"
    assert clock.sleeps == pytest.approx([1.0, 1.9, 3.7, 7.3, 14.5])  # initial, then backoff


async def test_first_poll_after_replaces_initial_delay() -> None:
    clock = FakeClock()
    await run_poll(Source("done"), NOJITTER, clock, first_poll_after=12.5)
    assert clock.sleeps == [12.5]


async def test_max_tries_raises_without_extra_sleep() -> None:
    clock = FakeClock()
    with pytest.raises(PollingTimeoutError) as err:
        await run_poll(Source("wait"), NOJITTER.model_copy(update={"max_tries": 3}), clock)
    assert err.value.run_id == "r1" and err.value.info == "wait"
    assert len(clock.sleeps) == 3  # initial + 2 between the 3 polls, none after the last


async def test_max_duration_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    source = Source("wait")
    options = NOJITTER.model_copy(update={"max_duration": 10.0})
    with pytest.raises(PollingTimeoutError, match="max_duration"):
        await run_poll(source, options, clock)
    # initial 1 s (not counted), then 1.9 + 3.7 + 4.4 (clamped) = 10 s: a last poll at the deadline
    assert clock.sleeps == pytest.approx([1.0, 1.9, 3.7, 4.4])
    assert source.calls == 4


async def test_stop_returns_last_value() -> None:
    clock = FakeClock()
    flags = iter([False, False, True])
    options = NOJITTER.model_copy(update={"stop": lambda: next(flags)})
    outcome = await run_poll(Source("a", "b", "done"), options, clock)
    assert outcome.stopped and not outcome.done and outcome.value == "b" and outcome.polls == 2


async def test_sleep_duration_func_hint_and_bad_hints() -> None:
    clock = FakeClock()
    hints = iter([0.25, float("nan"), -3.0])
    options = NOJITTER.model_copy(update={"sleep_duration_func": lambda: next(hints)})
    await run_poll(Source("a", "b", "c", "done"), options, clock)
    assert clock.sleeps == [1.0, 0.25, 0.0, 0.0]


async def test_transient_failures_are_polled_through() -> None:
    clock = FakeClock()
    source = Source(APIConnectionError("down"), ServerError("503", status_code=503), "done")
    outcome = await run_poll(source, NOJITTER, clock)
    assert outcome.done and source.calls == 3


async def test_unreachable_budget_bounds_the_unbounded_defaults() -> None:
    clock = FakeClock()
    source = Source(APIConnectionError("down"))
    options = NOJITTER.model_copy(update={"max_unreachable": 60.0})
    with pytest.raises(APIConnectionError):
        await run_poll(source, options, clock)
    # polls at 0, 1.9, 5.6, 12.9, 27.4, 47.4, 67.4 (s after the initial delay): > 60 s: give up
    assert source.calls == 7


async def test_permanent_errors_end_polling_at_once() -> None:
    clock = FakeClock()
    source = Source(NotFoundError("gone", status_code=404), "done")
    with pytest.raises(NotFoundError):
        await run_poll(source, NOJITTER, clock)
    assert source.calls == 1


def test_options_frozen_with_sdk_defaults() -> None:
    o = PollingOptions()
    assert (o.backoff, o.delay, o.initial_delay, o.max_delay, o.max_duration, o.max_tries) == (
        0.9,
        0.1,
        1.0,
        20.0,
        -1,
        -1,
    )
    assert (o.jitter, o.verbose, o.stop, o.sleep_duration_func) == (1.0, False, None, None)
    assert o.max_unreachable == 300.0
    with pytest.raises(ValidationError):
        o.max_tries = 3
    assert o.model_copy(update={"max_tries": 3}).max_tries == 3 and o.max_tries == -1


# ------------------------------------------------------------------- against the emulator


@pytest.fixture
async def emu(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> AsyncIterator[Emulator]:
    async with emulator_factory(time_scale=1.0) as e:
        yield e


def metadata_polls(emu: Emulator) -> int:
    return sum(1 for r in emu.stats()["recent_requests"] if r["path"].endswith("/metadata"))


async def test_cancel_during_polling_is_not_swallowed(emu: Emulator) -> None:
    """A cancellation landing in the sleep between two polls (an asyncio cancel, then an anyio
    cancel scope) ends the polling: one poll each, and the cancelled tasks are over, so no poll
    can follow."""
    slow = PollingOptions(initial_delay=0.0, delay=5.0, backoff=0.0, jitter=0.0)
    sleep = BlockingSleep()
    async with fast_client(emu.url, sleep=sleep) as client:
        app = client.application("test-app")
        run_id = await app.new_run({"a": 1}, options={"emulator.duration": "1000"})
        polling = asyncio.ensure_future(app.run_metadata_with_polling(run_id, slow))
        await sleep.entered.wait()  # polled once, now sleeping before the next poll
        assert await cancel_and_wait(polling)
        sleep.entered.clear()

        async def in_a_cancel_scope() -> None:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(
                    functools.partial(
                        app.new_run_with_result,
                        {"a": 1},
                        options={"emulator.duration": "1000"},
                        polling_options=slow,
                    )
                )
                await sleep.entered.wait()
                tasks.cancel_scope.cancel()

        scoped = asyncio.ensure_future(in_a_cancel_scope())
        await asyncio.wait({scoped}, timeout=30)  # a swallowed cancel would poll on: no hang
        assert scoped.done()
        assert metadata_polls(emu) == 2  # exactly one poll each, none after the cancellation
        assert sleep.sleeps == [5.0, 5.0] and sleep.cancelled == 2
        await app.cancel_run(run_id)


async def test_no_connection_left_open_after_errors(emu: Emulator) -> None:
    async with fast_client(emu.url) as client:
        app = client.application("test-app")
        for bad in ("missing-1", "missing-2"):
            with pytest.raises(NotFoundError):
                await app.run_metadata(bad)
        with pytest.raises(PollingTimeoutError):
            await app.new_run_with_result(
                {"a": 1},
                options={"emulator.duration": "1000"},
                polling_options=PollingOptions(initial_delay=0, max_tries=1),
            )
        session = client.transport.session
        assert session.connector is not None and len(session.connector._acquired) == 0
    assert session.closed
