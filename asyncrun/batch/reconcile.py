"""When a submission whose answer never came may be looked up, and the end-of-batch sweep.

A POST runs whose answer was lost (dropped connection, read timeout, 5xx) may still be acted on
by the server after the client gave up: a gateway can hand the request to the backend late, or
the backend can finish creating the run after its client is gone. A lookup by name before that
can happen finds nothing, and submitting again would make a second run. So every `submitting`
row gets a deadline: the moment after which its POST can no longer land, and the name is looked
up only after it.

deadline = the latest moment the POST can have been sent + connect timeout + read timeout
+ SUBMIT_MARGIN. The client stops waiting for an answer by the connect and read timeouts; the
margin is for a server that keeps acting on a request after its client is gone.

Whatever a server does after the deadline is caught by the sweep (sweep.py).

When a POST of a dead process can have been sent (`resume_deadline`): before the process let go
of the journal's lock if it did so cleanly (the lock record's `released`); if it was killed,
before HEARTBEAT_SLACK after its last heartbeat (`alive + beat + 2 * beat`: the next write was
due one interval later, and the slack allows for a heartbeat thread held up that long by the GIL
or the disk); without a heartbeat (a record of an older asyncrun), before this session opened
the journal. Never later than that opening. The limit: a process whose heartbeat thread is held
up longer than the slack while its event loop still sends POSTs may send one after the bound; a
name whose POST lands so late is looked up before it lands and submitted again, and the sweep
at the end of the batch finds, cancels and counts the duplicate.

The times are wall-clock UTC, written by the process that held the lock. A resume on the same
host reads them on the same clock. On another host (a journal on a network filesystem) its
clock may differ: HOLDER_SKEW is added to a bound written by another host, so a clock that runs
up to that much behind ours does not make the deadline too early.

A resume does not wait for a deadline to take a run that exists: the names an earlier process
left `submitting` are looked up at once, all of them in one listing of the application's runs
(`InDoubtListing`). A name found has its run (taken, nothing waits); only a name not found waits
for its deadline and is looked up again before anything is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from asyncrun.batch.journal import Journal, JournalRow, utc_now
from asyncrun.batch.journal_lock import HEARTBEAT, Holder
from asyncrun.batch.protocol import BatchApplication
from asyncrun.config import Timeouts
from asyncrun.errors import AsyncrunError

__all__ = [
    "HEARTBEAT_SLACK",
    "HOLDER_SKEW",
    "LOOKUP_MARGIN",
    "SUBMIT_MARGIN",
    "InDoubtListing",
    "last_sent",
    "post_life",
    "resume_deadline",
]

logger = logging.getLogger("asyncrun")

LOOKUP_MARGIN = timedelta(minutes=10)
"""Clock skew allowed between us and the server when a name is looked up: runs created up to
this long before the POST was sent are read."""

Found = tuple[str, datetime]  # (run id, created at)
Reading = Callable[[Callable[[], Awaitable[dict[str, Found]]]], Awaitable[dict[str, Found]]]

SUBMIT_MARGIN = 30.0
"""Seconds a server may still act on a POST after the client's timeouts have run out. 30 s: an
API gateway ends a request it forwarded after about 29 s (AWS API Gateway's integration limit),
and load balancers' idle timeouts (60 s) are already inside the client's 60 s read timeout; a
request acted on later than that is rare, and the end-of-batch sweep cancels what it creates."""


HEARTBEAT_SLACK = 2.0
"""Heartbeat intervals a killed holder's heartbeat thread may have been held up by: it was alive
until at most (1 + HEARTBEAT_SLACK) intervals after its last `alive`."""

HOLDER_SKEW = timedelta(seconds=60)
"""Clock difference allowed between the host that wrote a lock record and the host resuming (a
journal on a network filesystem); hosts sharing a filesystem normally agree to well within a
second (NTP), so a minute is ample without giving the heartbeat up."""


def post_life(timeouts: Timeouts, margin: float) -> timedelta:
    """How long after it was sent a POST may still create its run."""
    return timedelta(seconds=timeouts.connect + timeouts.read + margin)


def resume_deadline(row: JournalRow, journal: Journal, life: timedelta) -> datetime:
    """The deadline of a `submitting` row found by a new session of the journal.

    A row whose POST failed in its process has the deadline that process computed. Otherwise
    the process died or stopped with the POST unanswered, so the POST was sent before it let go
    of the journal: when it released the lock if it did so cleanly, else (killed) shortly after
    its last heartbeat, or (no heartbeat recorded) before this session opened the journal.
    """
    if row.post_deadline is not None:
        return row.post_deadline
    return last_sent(journal.previous_holder, journal.opened_at) + life


def last_sent(holder: Holder | None, opened_at: datetime) -> datetime:
    """The latest moment a POST of the journal's previous holder can have been sent."""
    if holder is None:
        return opened_at
    if holder.released is not None:
        stopped = holder.released
    elif holder.alive is not None:
        beat = timedelta(seconds=holder.beat or HEARTBEAT)
        stopped = holder.alive + beat + HEARTBEAT_SLACK * beat
    else:
        return opened_at
    if holder.host != socket.gethostname():
        stopped += HOLDER_SKEW
    return min(stopped, opened_at)


class InDoubtListing:
    """The runs of the names an earlier process left `submitting`, found by one listing of the
    application's runs, taken when the first such row is met (a resume's start) and shared by
    every scenario in doubt: 120 rows in doubt cost one listing, not 120, and no deadline.

    The listing goes newest first down to the oldest POST in doubt (less LOOKUP_MARGIN), and
    keeps, per name in doubt, its oldest run (the one a lookup by name takes). A listing that
    fails finds nothing: each name then waits for its deadline and is looked up alone.
    """

    def __init__(
        self, app: BatchApplication, journal: Journal, reading: Reading, life: timedelta
    ) -> None:
        self.app = app
        self.journal = journal
        self.reading = reading
        self.life = life  # post_life: a row's deadline when it has none
        self._task: asyncio.Task[dict[str, Found]] | None = None

    async def found(self, name: str) -> Found | None:
        """The run of `name` the listing found, or None."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._listed())
        # Shielded: one scenario's cancellation must not cancel the others' listing.
        return (await asyncio.shield(self._task)).get(name)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _listed(self) -> dict[str, Found]:
        opened = self.journal.opened_at
        # This session's own POSTs in flight are no concern of the listing (sent after opened).
        rows = [
            row
            for row in await self.journal.rows(["submitting"])
            if row.post_sent_at is None or row.post_sent_at < opened
        ]
        if not rows:
            return {}
        names = {row.run_name for row in rows}
        limit = await self._limit(rows)
        try:
            found = await self.reading(lambda: self._runs_named(names, limit))
        except AsyncrunError as exc:
            logger.warning(
                "looking up the %d submissions in doubt failed (%s): each is looked up after "
                "its deadline",
                len(rows),
                exc,
            )
            return {}
        self._tell(rows, found)
        return found

    def _tell(self, rows: list[JournalRow], found: dict[str, Found]) -> None:
        missing = [row for row in rows if row.run_name not in found]
        if not missing:
            logger.info(
                "resume: %d submissions of an earlier process were in doubt; every run was "
                "found by name",
                len(rows),
            )
            return
        until = max(resume_deadline(row, self.journal, self.life) for row in missing)
        logger.warning(
            "resume: %d submissions of an earlier process were in doubt, %d runs found by "
            "name; %d not found are looked up again at %s (their POSTs may still land until "
            "then), before anything is sent again",
            len(rows),
            len(found),
            len(missing),
            until.astimezone().strftime("%H:%M:%S"),
        )

    async def _limit(self, rows: list[JournalRow]) -> datetime | None:
        """Where the listing stops: before the oldest POST in doubt; for a row that does not
        say when its POST was sent (a version-1 journal), before the batch began."""
        sent = [row.post_sent_at for row in rows]
        if None in sent:
            began = _parsed((await self.journal.meta()).get("created_at"))
            if began is None:
                return None
            sent = [when or began for when in sent]
        return min(when for when in sent if when is not None) - LOOKUP_MARGIN

    async def _runs_named(self, names: set[str], limit: datetime | None) -> dict[str, Found]:
        found: dict[str, Found] = {}
        async for run in self.app.list_runs():
            created = run.created_at
            if limit is not None and created is not None and _aware(created) < limit:
                break
            if run.name in names:  # newest first: the last one seen is the oldest
                found[run.name] = (run.id, created or utc_now())
        return found


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.astimezone()


def _parsed(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
