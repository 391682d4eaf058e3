"""Every run of a batch in flight at once, more than the pool carries within its timeout: the
queue for connections moves, so no submission fails for want of one (issue 17)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from asyncrun import Limits, RateLimits, RetryPolicy, Scenario, Timeouts, run_batch_all
from asyncrun.emulator import Emulator, FaultProfile

from .conftest import FAST, fast_client

Factory = Callable[..., AbstractAsyncContextManager[Emulator]]


async def test_a_batch_queued_past_the_pool_timeout_submits_every_run_once(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    # 150 POSTs for 2 connections, every answer 10 ms late: the last ones queue for about
    # 0.75 s behind the others, then polls queue with them; the pool timeout is 0.3 s. No
    # transport retry: a pool timeout would fail the attempt at once.
    scenarios = [Scenario(key=f"s{i}", input={"scenario": i}) for i in range(150)]
    slow = FaultProfile(slow=1.0, slow_seconds=0.01)
    async with (
        emulator_factory(faults=slow, time_scale=20) as emu,
        fast_client(
            emu.url,
            timeouts=Timeouts(connect=0.5, read=2.0, pool=0.3),
            limits=Limits(max_connections=2, rate=RateLimits.unlimited()),
            retry=RetryPolicy(max_attempts=1),
        ) as client,
    ):
        outcomes = await run_batch_all(
            client.application("queue-app"),
            scenarios,
            max_in_flight=len(scenarios),
            journal=tmp_path / "j.db",
            batch_tag="q",
            polling_options=FAST,
        )
        stats = emu.stats()
    assert [(o.key, o.error) for o in outcomes if o.status != "succeeded"] == []
    assert stats["requests"]["POST /v1/applications/{app_id}/runs"] == {"200": 150}
    assert set(stats["runs_per_name"].values()) == {1}
