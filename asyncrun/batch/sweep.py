"""The end-of-batch duplicate sweep: whatever a server did with a request after its deadline, a
name of this batch with more than one run keeps the journal's run and the others are canceled.

Cost: one listing of the application's runs, newest first, stopped at the first run created
before the batch began (less a margin for clock skew), so it reads the runs created while the
batch existed (its own, plus any other runs of the application meanwhile), not the application's
history: for a 10,000-run batch, 10,000 items in 200 list requests of 50 (on the general rate
bucket: 2,000 a minute on the standard plan, so about 6 s of budget), plus one PATCH per extra
run. Memory: one (id, status) per run of the batch; the journal rows read are only those of
names found more than once.

The listing need not wait for the end: once the scenario source is exhausted and every scenario
was submitted it is taken early (`list_early`), while the last runs are still polled, and the
end then lists only what was created since, newest first down to the first run the early
listing saw (one page, as a rule).
That is sound because the list is in order of creation: a run created after the early listing
began (a late POST landing included) sits above every run it saw. The statuses of an early
listing may be stale by the end: the runs of a name found more than once are read again before
any is canceled.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from asyncrun.batch.journal import Journal, JournalRow
from asyncrun.batch.outcome import DuplicateRun
from asyncrun.batch.protocol import BatchApplication

__all__ = ["EarlyListing", "duplicates_of", "list_early", "sweep_duplicates"]

logger = logging.getLogger("asyncrun")
T = TypeVar("T")
Reading = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]
_Seen = tuple[str, str]  # (run id, status when listed)

# Server clocks may run behind ours: list this much further back than the batch's start.
CLOCK_SKEW = timedelta(minutes=10)
_LIVE = frozenset({"queued", "running", "none"})
_MARKS = 50  # ids of the newest runs an early listing saw: where the end's listing may stop


@dataclass(frozen=True)
class EarlyListing:
    """The batch's names listed before its end, and the newest run ids that listing saw."""

    named: dict[str, list[_Seen]]
    marks: frozenset[str]


async def list_early(app: BatchApplication, *, tag: str, began: datetime) -> EarlyListing:
    """The listing of the sweep, taken before the batch's end."""
    marks: list[str] = []
    named = await _names_since(app, tag + "/", began - CLOCK_SKEW, marks=marks)
    return EarlyListing(named, frozenset(marks))


async def sweep_duplicates(
    app: BatchApplication,
    journal: Journal,
    *,
    tag: str,
    began: datetime,
    reading: Reading[Any],
    cancel: Callable[[str], Awaitable[None]],
    early: EarlyListing | None = None,
) -> list[DuplicateRun]:
    """List the runs created since `began` (since `early` was listed, when given), find names
    of this batch with more than one run, cancel the extras still live, and record them in the
    journal rows (`duplicates`)."""
    limit = began - CLOCK_SKEW
    stop = early.marks if early is not None else frozenset()
    named = await reading(lambda: _names_since(app, tag + "/", limit, stop=stop))
    if early is not None:
        named = _merged(named, early.named)
    repeated = {name: seen for name, seen in named.items() if len(seen) > 1}
    if not repeated:
        return []
    if early is not None:  # listed a while ago: what is live now decides what is canceled
        repeated = {name: await _fresh(app, seen, reading) for name, seen in repeated.items()}
    found: list[DuplicateRun] = []
    for row in await journal.rows_named(list(repeated)):
        found.extend(await _settle(row, repeated[row.run_name], cancel))
    for key, extras in _by_key(found).items():
        await journal.update(key, duplicates=json.dumps([asdict(d) for d in extras]))
    return found


async def _names_since(
    app: BatchApplication,
    prefix: str,
    limit: datetime,
    *,
    stop: frozenset[str] = frozenset(),
    marks: list[str] | None = None,
) -> dict[str, list[_Seen]]:
    """(id, status) of every run named with `prefix`, by name, newest first, down to the runs
    created before `limit` or to a run in `stop`; only ids and statuses are kept, so memory
    follows the batch's run count, not the listing's pages. The first ids seen go to `marks`."""
    named: dict[str, list[_Seen]] = {}
    async for run in app.list_runs():
        created = run.created_at
        if run.id in stop or (created is not None and _aware(created) < limit):
            break
        if marks is not None and len(marks) < _MARKS:
            marks.append(run.id)
        if run.name.startswith(prefix):
            named.setdefault(run.name, []).append((run.id, str(run.status_v2)))
    return named


def _merged(newer: dict[str, list[_Seen]], older: dict[str, list[_Seen]]) -> dict[str, list[_Seen]]:
    """Two listings of one application, newer first, each run once (a listing taken while
    runs were created may show a run twice)."""
    merged: dict[str, list[_Seen]] = {}
    for listing in (newer, older):
        for name, seen in listing.items():
            runs = merged.setdefault(name, [])
            known = {run_id for run_id, _ in runs}
            runs.extend(item for item in seen if item[0] not in known)
    return merged


async def _fresh(app: BatchApplication, seen: list[_Seen], reading: Reading[Any]) -> list[_Seen]:
    """The runs' statuses now (one metadata read each: only names with more than one run)."""
    fresh = []
    for run_id, _ in seen:
        info = await reading(functools.partial(app.run_metadata, run_id))
        fresh.append((run_id, str(info.metadata.status_v2)))
    return fresh


async def _settle(
    row: JournalRow, runs: list[_Seen], cancel: Callable[[str], Awaitable[None]]
) -> list[DuplicateRun]:
    ids = [run_id for run_id, _ in runs]
    # The journal's run is the scenario's outcome; without one, the oldest (listed last).
    kept = row.run_id if row.run_id in ids else ids[-1]
    extras = []
    for run_id, status in runs:
        if run_id == kept:
            continue
        live = status in _LIVE
        if live:
            await cancel(run_id)
        logger.warning(
            "run name %r has %d runs: kept %s, %s %s (%s)",
            row.run_name,
            len(runs),
            kept,
            "canceled" if live else "left",
            run_id,
            status,
        )
        extras.append(DuplicateRun(row.key, row.run_name, kept, run_id, status, live))
    return extras


def _by_key(found: list[DuplicateRun]) -> dict[str, list[DuplicateRun]]:
    out: dict[str, list[DuplicateRun]] = {}
    for duplicate in found:
        out.setdefault(duplicate.key, []).append(duplicate)
    return out


def duplicates_of(raw: str | None) -> tuple[DuplicateRun, ...]:
    """The duplicates recorded in a journal row."""
    if not raw:
        return ()
    try:
        return tuple(DuplicateRun(**item) for item in json.loads(raw))
    except (ValueError, TypeError):
        return ()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.astimezone()
