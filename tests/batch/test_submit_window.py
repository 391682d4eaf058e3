"""The submission window: a batch pulls scenarios only a few times the connection limit ahead
of their submission, however many runs it keeps in flight (issue 13: memory per run, and POSTs
not queued behind thousands of journal writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from asyncrun import AmbiguousSubmitError, Limits, Scenario, Timeouts, run_batch_all
from asyncrun.batch.runner import SUBMIT_WINDOW_MIN, submit_window
from asyncrun.models import Run, RunResult

from .conftest import FAST
from .fakes import FakeApplication

RUNS = 400


class HeldUntilAllSubmitted(FakeApplication):
    """Runs stay running until every scenario was submitted: all of them are in flight at
    once, and the window alone bounds how far pulling runs ahead of submitting."""

    limits = Limits(max_connections=4)

    def __init__(self) -> None:
        super().__init__()
        self.ahead: list[int] = []  # at each pull: scenarios pulled and not submitted yet

    async def run_result_direct(self, run_id: str, *, max_inline: int | None = None) -> RunResult:
        self.results += 1
        await asyncio.sleep(0)
        status = "succeeded" if self.submits == RUNS else "running"
        return RunResult.model_validate(
            {"id": run_id, "metadata": {"status_v2": status}, "output": {"value": 1.0}}
        )

    def scenarios(self) -> Iterator[Scenario]:
        for i in range(RUNS):
            self.ahead.append(i - self.submits)
            yield Scenario(key=f"s{i}", input={"i": i})


def test_the_window_is_a_few_times_the_connection_limit() -> None:
    assert submit_window(Limits(max_connections=4)) == SUBMIT_WINDOW_MIN
    assert submit_window(Limits(max_connections=100)) == 200


async def test_pulling_stays_within_the_window_while_every_run_is_in_flight() -> None:
    app = HeldUntilAllSubmitted()
    outcomes = await run_batch_all(
        app, app.scenarios(), max_in_flight=RUNS, polling_options=FAST, batch_tag="w"
    )
    assert [o.status for o in outcomes] == ["succeeded"] * RUNS
    assert app.submits == RUNS
    assert max(app.ahead) <= SUBMIT_WINDOW_MIN  # 64 for 4 connections, not 400
    # ... while all 400 were in flight at once: none could end before the last was submitted
    assert max(app.ahead) < RUNS - 1


class AmbiguousFirst(FakeApplication):
    """The first POSTs get no answer: their scenarios wait out the POST's deadline (0.3 s) and
    look their name up (nothing found), then submit again."""

    limits = Limits(max_connections=4)
    timeouts = Timeouts(connect=0.1, read=0.2)

    def __init__(self, ambiguous: int) -> None:
        super().__init__()
        self.ambiguous = ambiguous
        self.submits_at_first_lookup: int | None = None

    async def new_run(self, **kwargs: Any) -> str:
        if self.submits < self.ambiguous:
            self.submits += 1
            raise AmbiguousSubmitError("no answer", run_name=kwargs.get("name"))
        return await super().new_run(**kwargs)

    async def find_runs_by_name(
        self, name: str, *, created_after: datetime | None = None
    ) -> list[Run]:
        if self.submits_at_first_lookup is None:
            self.submits_at_first_lookup = self.submits
        return []


async def test_scenarios_waiting_out_an_ambiguous_post_lend_their_place_in_the_window() -> None:
    """A full window of scenarios parked on unanswered POSTs does not hold up the others:
    while they wait for their deadline, the scenarios behind them are pulled and submitted."""
    window = SUBMIT_WINDOW_MIN
    app = AmbiguousFirst(ambiguous=window)
    scenarios = [Scenario(key=f"s{i}", input={"i": i}) for i in range(3 * window)]
    outcomes = await run_batch_all(
        app, scenarios, max_in_flight=len(scenarios), polling_options=FAST, submit_margin=0.0
    )
    assert [o.status for o in outcomes] == ["succeeded"] * len(scenarios)
    assert app.submits_at_first_lookup is not None
    assert app.submits_at_first_lookup > window  # the others went while the first 64 waited
