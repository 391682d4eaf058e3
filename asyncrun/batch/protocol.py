"""What the batch layer needs from an application: the handful of run-API calls it makes.

`AsyncApplication` satisfies this structurally; the batch package never imports it, so the batch
sits above the client it drives and a test can drive a batch with a fake that has no HTTP.
Positional parameters are positional-only here so an implementation may name them as it likes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from os import PathLike
from typing import Any, Protocol

from asyncrun._reachability import Reachability
from asyncrun.config import Limits, Timeouts
from asyncrun.models import (
    ManagedInput,
    Run,
    RunConfiguration,
    RunInformation,
    RunResult,
    RunsPage,
)

__all__ = ["BatchApplication"]


class BatchApplication(Protocol):
    """The application a batch runs through (see docs/internals.md, "the batch layer's use of
    the client")."""

    @property
    def id(self) -> str:
        """The application id (stored in the journal)."""
        ...

    @property
    def limits(self) -> Limits:
        """Pool size and rates (the poll pacer sizes itself on them)."""
        ...

    @property
    def timeouts(self) -> Timeouts:
        """The client's timeouts (how long a POST whose answer was lost may still land)."""
        ...

    @property
    def reachability(self) -> Reachability:
        """Since when the API could not be connected to (a batch stops when it lasts)."""
        ...

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
        """Submit a run; raise AmbiguousSubmitError / ServerError when it may exist anyway."""
        ...

    async def find_runs_by_name(
        self, name: str, /, *, created_after: datetime | None = None
    ) -> list[Run]:
        """Runs named `name`, newest first (reconciling a submission whose fate is unknown)."""
        ...

    def list_runs(self) -> AsyncIterator[Run]:
        """The application's runs, newest first, page by page (the end-of-batch sweep)."""
        ...

    async def run_result(
        self,
        run_id: str,
        /,
        *,
        info: RunInformation | None = None,
        output_dir: str | PathLike[str] | None = None,
    ) -> RunResult:
        """The result of a final run (`info`: its metadata, already fetched while polling)."""
        ...

    async def run_metadata(self, run_id: str, /) -> RunInformation:
        """One status read of one run (a poll no page answered)."""
        ...

    async def run_result_direct(
        self, run_id: str, /, *, max_inline: int | None = None
    ) -> RunResult:
        """The result read with no metadata read first: a run's last poll and its result (an
        answer over `max_inline` bytes is not taken in: the result then comes another way)."""
        ...

    async def list_runs_page(self, page_token: str | None = None, /) -> RunsPage:
        """One page of the application's runs, newest first: many runs' status at once."""
        ...

    async def cancel_run(self, run_id: str, /) -> None:
        """Cancel a run."""
        ...

    async def new_managed_input(
        self,
        id: str | None = None,
        /,
        *,
        input: Any = None,
        dir_path: str | PathLike[str] | None = None,
    ) -> ManagedInput:
        """Upload an input once as a managed input with this id (runs then name it); raise
        AmbiguousSubmitError / ServerError when it may exist anyway, ConflictError when it
        does."""
        ...

    async def managed_input(self, managed_input_id: str, /) -> ManagedInput:
        """A managed input by id (NotFoundError when there is none)."""
        ...
