"""The end-of-batch duplicate sweep: whatever a server did with a request after its deadline, a
name of this batch with more than one run keeps the journal's run and the others are canceled.

Cost: one listing of the application's runs, newest first, stopped at the first run created
before the batch began (less a margin for clock skew), so it reads the runs created while the
batch existed (its own, plus any other runs of the application meanwhile), not the application's
history: for a 10,000-run batch, 10,000 items in 200 list requests of 50 (on the general rate
bucket: 2,000 a minute on the standard plan, so about 6 s of budget), plus one PATCH per extra
run. Memory: one (id, status) per run of the batch; the journal rows read are only those of
names found more than once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TypeVar

from asyncrun.batch.journal import Journal, JournalRow
from asyncrun.batch.outcome import DuplicateRun
from asyncrun.batch.protocol import BatchApplication

__all__ = ["duplicates_of", "sweep_duplicates"]

logger = logging.getLogger("asyncrun")
T = TypeVar("T")
Reading = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]
_Seen = tuple[str, str]  # (run id, status when listed)

# Server clocks may run behind ours: list this much further back than the batch's start.
CLOCK_SKEW = timedelta(minutes=10)
_LIVE = frozenset({"queued", "running", "none"})


async def sweep_duplicates(
    app: BatchApplication,
    journal: Journal,
    *,
    tag: str,
    began: datetime,
    reading: Reading[dict[str, list[_Seen]]],
    cancel: Callable[[str], Awaitable[None]],
) -> list[DuplicateRun]:
    """List the runs created since `began`, find names of this batch with more than one run,
    cancel the extras still live, and record them in the journal rows (`duplicates`)."""
    named = await reading(lambda: _names_since(app, tag + "/", began - CLOCK_SKEW))
    repeated = {name: seen for name, seen in named.items() if len(seen) > 1}
    if not repeated:
        return []
    found: list[DuplicateRun] = []
    for row in await journal.rows_named(list(repeated)):
        found.extend(await _settle(row, repeated[row.run_name], cancel))
    for key, extras in _by_key(found).items():
        await journal.update(key, duplicates=json.dumps([asdict(d) for d in extras]))
    return found


async def _names_since(
    app: BatchApplication, prefix: str, limit: datetime
) -> dict[str, list[_Seen]]:
    """(id, status) of every run named with `prefix`, by name, newest first; only ids and
    statuses are kept, so memory follows the batch's run count, not the listing's pages."""
    named: dict[str, list[_Seen]] = {}
    async for run in app.list_runs():
        created = run.created_at
        if created is not None and _aware(created) < limit:
            break
        if run.name.startswith(prefix):
            named.setdefault(run.name, []).append((run.id, str(run.status_v2)))
    return named


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
