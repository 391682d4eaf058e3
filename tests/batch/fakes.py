"""A fake application for scheduling tests that need no HTTP: it answers at once, counts calls,
and keeps nothing per run beyond counters."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from asyncrun.config import Limits
from asyncrun.models import RunInformation, RunResult
from asyncrun.polling import PollingOptions


class FakeApplication:
    id = "fake-app"
    limits = Limits()

    def __init__(self) -> None:
        self._ids = itertools.count()
        self.submits = 0
        self.polls = 0
        self.results = 0
        self.cancels: list[str] = []

    async def new_run(self, name: str | None = None, **kwargs: Any) -> str:
        self.submits += 1
        await asyncio.sleep(0)
        return f"run-{next(self._ids)}"

    async def find_runs_by_name(self, name: str, **kwargs: Any) -> list[Any]:
        return []

    async def run_metadata_with_polling(
        self, run_id: str, options: PollingOptions, *, first_poll_after: float | None = None
    ) -> RunInformation:
        self.polls += 1
        await asyncio.sleep(0)
        return RunInformation.model_validate(
            {"id": run_id, "metadata": {"status_v2": "succeeded", "duration": 1000.0}}
        )

    async def run_result(self, run_id: str, **kwargs: Any) -> RunResult:
        self.results += 1
        return RunResult.model_validate(
            {"id": run_id, "metadata": {"status_v2": "succeeded"}, "output": {"value": 1.0}}
        )

    async def cancel_run(self, run_id: str) -> None:
        self.cancels.append(run_id)
