"""A fake application for scheduling tests that need no HTTP: it answers at once, counts calls,
and keeps nothing per run beyond counters. It implements asyncrun.batch.protocol.BatchApplication
(checked by mypy: see `_conforms` below)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from os import PathLike
from typing import Any

from asyncrun._reachability import Reachability
from asyncrun.batch.protocol import BatchApplication
from asyncrun.config import Limits, Timeouts
from asyncrun.errors import NotFoundError
from asyncrun.models import (
    ManagedInput,
    Run,
    RunConfiguration,
    RunInformation,
    RunResult,
    RunsPage,
)


class FakeApplication:
    id = "fake-app"
    limits = Limits()
    timeouts = Timeouts()
    reachability = Reachability()  # never records a failed connection

    def __init__(self) -> None:
        self._ids = itertools.count()
        self.submits = 0
        self.polls = 0
        self.results = 0
        self.pages = 0
        self.cancels: list[str] = []
        self.listed: list[Run] = []  # what list_runs gives (the fake keeps no runs)
        self.managed_inputs = 0

    async def new_run(
        self,
        *,
        input: Any = None,
        instance_id: str | None = None,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
        configuration: RunConfiguration | Mapping[str, Any] | None = None,
        dir_path: str | PathLike[str] | None = None,
    ) -> str:
        self.submits += 1
        await asyncio.sleep(0)
        return f"run-{next(self._ids)}"

    async def find_runs_by_name(
        self, name: str, *, created_after: datetime | None = None
    ) -> list[Run]:
        return []

    async def run_metadata(self, run_id: str) -> RunInformation:
        self.polls += 1
        await asyncio.sleep(0)
        return RunInformation.model_validate(
            {"id": run_id, "metadata": {"status_v2": "succeeded", "duration": 10.0}}
        )

    async def run_result_direct(self, run_id: str, *, max_inline: int | None = None) -> RunResult:
        self.results += 1
        return _succeeded(run_id)

    async def list_runs_page(self, page_token: str | None = None) -> RunsPage:
        # Keeps nothing per run, so it lists none: every poll is the run's own read.
        self.pages += 1
        return RunsPage(runs=[])

    async def list_runs(self) -> AsyncIterator[Run]:
        for run in self.listed:
            yield run

    async def run_result(
        self,
        run_id: str,
        *,
        info: RunInformation | None = None,
        output_dir: str | PathLike[str] | None = None,
    ) -> RunResult:
        self.results += 1
        return _succeeded(run_id)

    async def cancel_run(self, run_id: str) -> None:
        self.cancels.append(run_id)

    async def new_managed_input(
        self,
        id: str | None = None,
        *,
        input: Any = None,
        dir_path: str | PathLike[str] | None = None,
    ) -> ManagedInput:
        self.managed_inputs += 1
        return ManagedInput(id=id or f"input-{self.managed_inputs}")

    async def managed_input(self, managed_input_id: str) -> ManagedInput:
        raise NotFoundError("no such managed input", status_code=404)


def _succeeded(run_id: str) -> RunResult:
    return RunResult.model_validate(
        {"id": run_id, "metadata": {"status_v2": "succeeded"}, "output": {"value": 1.0}}
    )


def _conforms(app: FakeApplication) -> BatchApplication:
    return app  # mypy fails here if the fake stops implementing the protocol
