"""Stopping a batch early, and canceling its runs.

`InFlight` tracks what an interrupt with "cancel" must cancel: a run by its id once it is known,
and by its name while its submission is unanswered (the POST may have created it). The same
"cancel by id, or find by name" serves `asyncrun cancel --journal` (`cancel_journal_rows`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from asyncrun.batch.journal import JournalRow
from asyncrun.batch.protocol import BatchApplication

__all__ = [
    "CancelTally",
    "CancelTarget",
    "InFlight",
    "Interrupt",
    "cancel_in_flight",
    "cancel_journal_rows",
    "cancel_runs",
    "interrupt",
]

logger = logging.getLogger("asyncrun")

Interrupt = Literal["detach", "cancel"]

FindRuns = Callable[[str, datetime | None], Awaitable[list[str]]]
"""Ids of the runs submitted under a name (asked at a moment, when known) that are to be
canceled."""

_JOURNAL_CANCEL_CONCURRENCY = 20


class InFlight:
    """The runs of a batch that are in flight, by scenario key."""

    def __init__(self) -> None:
        self.runs: dict[str, str] = {}  # key -> run id
        # key -> (run name, asked at): a run whose fate is not known yet (its POST, or the
        # lookup after an ambiguous one, has not answered); "cancel" looks these up by name
        self.unanswered: dict[str, tuple[str, datetime]] = {}

    def __len__(self) -> int:
        return len(self.runs)

    def asking(self, key: str, name: str, asked: datetime) -> None:
        """A request that may create the run of `key` is under way."""
        self.unanswered[key] = (name, asked)

    def answered(self, key: str) -> None:
        """The fate of `key`'s submission is known (no run, or not found)."""
        self.unanswered.pop(key, None)

    def known(self, key: str, run_id: str) -> None:
        """The run of `key` exists: from now on an interrupt cancels it by id."""
        self.unanswered.pop(key, None)
        self.runs[key] = run_id

    def done(self, key: str) -> None:
        """The run of `key` is final (or no longer followed)."""
        self.runs.pop(key, None)

    def targets(self) -> list[CancelTarget]:
        return [CancelTarget(run_id, "") for run_id in self.runs.values()] + [
            CancelTarget(None, name, asked) for name, asked in self.unanswered.values()
        ]


@dataclass(frozen=True)
class CancelTarget:
    """A run to cancel: by `run_id`, or (None) the runs found under `name`."""

    run_id: str | None
    name: str
    asked: datetime | None = None


@dataclass(frozen=True)
class CancelTally:
    canceled: int  # targets whose runs were all canceled
    not_found: int  # targets by name whose run was not found
    failed: int  # targets whose lookup or cancel raised


async def cancel_runs(
    app: BatchApplication,
    targets: Iterable[CancelTarget],
    find: FindRuns,
    *,
    concurrency: int | None = None,
) -> CancelTally:
    """PATCH cancel for every target (by id, or every run `find` finds by its name)."""
    slots = asyncio.Semaphore(concurrency) if concurrency is not None else None

    async def cancel(target: CancelTarget) -> bool:
        async with slots or contextlib.nullcontext():
            if target.run_id is not None:
                ids = [target.run_id]
            else:
                ids = await find(target.name, target.asked)
            for run_id in ids:
                await app.cancel_run(run_id)
            return bool(ids)

    results = await asyncio.gather(*(cancel(t) for t in targets), return_exceptions=True)
    return CancelTally(
        canceled=sum(1 for r in results if r is True),
        not_found=sum(1 for r in results if r is False),
        failed=sum(1 for r in results if isinstance(r, BaseException)),
    )


async def cancel_journal_rows(app: BatchApplication, rows: Iterable[JournalRow]) -> CancelTally:
    """`asyncrun cancel --journal`: cancel the run of every row still in flight; a row whose
    submission was unanswered cancels every run found under its name."""

    async def every_run_named(name: str, asked: datetime | None) -> list[str]:
        return [run.id for run in await app.find_runs_by_name(name)]

    targets = [CancelTarget(row.run_id or None, row.run_name) for row in rows]
    return await cancel_runs(app, targets, every_run_named, concurrency=_JOURNAL_CANCEL_CONCURRENCY)


async def cancel_in_flight(
    app: BatchApplication, in_flight: InFlight, find: FindRuns, deadline: float
) -> tuple[int, int]:
    """PATCH cancel for every run in flight, shielded and bounded by `deadline` seconds.

    A scenario interrupted while its POST was unanswered may have created a run: `find` looks it
    up by name and it is canceled when found. Returns (runs canceled, submissions whose run was
    not found before the deadline).
    """
    targets = in_flight.targets()
    if not targets:
        return 0, 0
    unanswered = len(in_flight.unanswered)
    task = asyncio.ensure_future(cancel_runs(app, targets, find))
    try:
        done, _ = await asyncio.shield(asyncio.wait({task}, timeout=deadline))
    except asyncio.CancelledError:
        # A second interrupt: still give the cancels their deadline, then re-raise.
        await asyncio.wait({task}, timeout=deadline)
        task.cancel()
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0, unanswered
    tally = task.result()
    return tally.canceled, tally.not_found


async def interrupt(
    driver: asyncio.Future[None],
    policy: Interrupt,
    cancel: Callable[[], Awaitable[tuple[int, int]]],
    in_flight: InFlight,
) -> None:
    """Stop the batch early: stop submitting and polling (runs keep going in the cloud); with
    "cancel", then `cancel()` every run in flight. The journal keeps what is needed to resume."""
    driver.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.shield(driver)
    if policy == "cancel":
        canceled, missed = await cancel()
        logger.warning("batch stopped before its end: %d runs in flight canceled", canceled)
        if missed:
            logger.warning(
                "%d submissions were unanswered and their runs not found; their journal rows "
                "stay 'submitting': `asyncrun cancel --journal` or a resume reconciles them",
                missed,
            )
    else:
        logger.warning(
            "batch stopped before its end: %d runs left running (detached); resume with the "
            "same journal",
            len(in_flight),
        )
