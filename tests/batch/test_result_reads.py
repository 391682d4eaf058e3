"""A run's own poll is its result read where that costs nothing more than a metadata read: a
final run's last poll is then also its result. Counted at the emulator."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from asyncrun import Limits, Rate, RateLimits, Scenario, run_batch_all
from asyncrun.batch.schedule import MAX_INLINE
from asyncrun.emulator import Emulator

from .conftest import FAST, digest, fast_client

EmulatorFactory = Callable[..., AbstractAsyncContextManager[Emulator]]
RUNS = 12


def _scenarios(count: int = RUNS, **options: str) -> list[Scenario]:
    return [
        Scenario(
            key=f"s{i}",
            input={"i": i},
            options={"emulator.duration": f"{0.2 + 0.02 * (i % 5):.2f}", **options},
        )
        for i in range(count)
    ]


def _gets(emu: Emulator, suffix: str) -> int:
    return sum(
        sum(statuses.values())
        for route, statuses in emu.stats()["requests"].items()
        if route.startswith("GET ") and route.endswith(suffix)
    )


async def _batch(
    emulator_factory: EmulatorFactory, scenarios: list[Scenario], **kwargs: Any
) -> tuple[list[Any], Emulator]:
    """The batch's outcomes (fast polling, the fast client unless `limits=` is given) and the
    emulator it ran on (stopped, its counts kept)."""
    limits = kwargs.pop("limits", None)
    extra = {"limits": limits} if limits is not None else {}
    async with emulator_factory() as emu, fast_client(emu.url, **extra) as client:
        outcomes = await run_batch_all(
            client.application("reads-app"), scenarios, polling_options=FAST, **kwargs
        )
    return outcomes, emu


def _checked(outcomes: list[Any], scenarios: list[Scenario]) -> None:
    assert [o.status for o in outcomes] == ["succeeded"] * len(scenarios)
    assert [o.output["input_digest"] for o in outcomes] == [digest(s.input) for s in scenarios]


async def test_with_the_result_bucket_free_every_poll_is_a_result_read(
    emulator_factory: EmulatorFactory,
) -> None:
    """No metadata read at all: a run's poll that finds it final carries its result."""
    scenarios = _scenarios()
    outcomes, emu = await _batch(emulator_factory, scenarios)
    _checked(outcomes, scenarios)
    assert _gets(emu, "/metadata") == 0
    polls = sum(o.polls for o in outcomes)
    # Every run's last poll read its result: no result read beyond its polls and the
    # confirmations of runs a page of the run list showed final first.
    assert RUNS <= _gets(emu, "/runs/{run_id}") <= polls


async def test_without_results_wanted_polls_read_metadata(
    emulator_factory: EmulatorFactory,
) -> None:
    outcomes, emu = await _batch(emulator_factory, _scenarios(), fetch_results=False)
    assert [o.status for o in outcomes] == ["succeeded"] * RUNS
    assert _gets(emu, "/runs/{run_id}") == 0
    assert _gets(emu, "/metadata") >= RUNS - _gets(emu, "/runs")


async def test_with_the_result_bucket_bounded_polls_read_metadata(
    emulator_factory: EmulatorFactory,
) -> None:
    """A result bucket bounded client-side is kept for result reads: the first polls (before
    any output was seen) are metadata reads, and no run's result is read twice."""
    limits = Limits(max_connections=50, rate=RateLimits(result=Rate(count=1000, per_seconds=1)))
    scenarios = _scenarios()
    outcomes, emu = await _batch(emulator_factory, scenarios, limits=limits)
    _checked(outcomes, scenarios)
    assert _gets(emu, "/metadata") > 0


async def test_a_poll_leaves_an_answer_over_its_cap_unread(
    emulator_factory: EmulatorFactory,
) -> None:
    """Outputs larger than a poll takes in: the poll that finds the run final does not read
    its answer; the result comes as run_result gets it (metadata first), once per run, and
    from then on the batch's polls are metadata reads."""
    size = MAX_INLINE + 300_000
    scenarios = _scenarios(2, **{"emulator.output_bytes": str(size)})
    outcomes, emu = await _batch(emulator_factory, scenarios, max_in_flight=1)
    _checked(outcomes, scenarios)
    assert all(len(o.output["padding"]) > MAX_INLINE for o in outcomes)
    # The first run: its final poll left the answer unread, then metadata and the result.
    # The second: polled by metadata (outputs are known large now), then its result.
    first_polls = outcomes[0].polls
    assert _gets(emu, "/runs/{run_id}") == first_polls + 1 + 1
