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
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asyncrun.batch.journal import Journal, JournalRow
from asyncrun.config import Timeouts

__all__ = ["SUBMIT_MARGIN", "post_life", "resume_deadline"]

SUBMIT_MARGIN = 30.0
"""Seconds a server may still act on a POST after the client's timeouts have run out. 30 s: an
API gateway ends a request it forwarded after about 29 s (AWS API Gateway's integration limit),
and load balancers' idle timeouts (60 s) are already inside the client's 60 s read timeout; a
request acted on later than that is rare, and the end-of-batch sweep cancels what it creates."""


def post_life(timeouts: Timeouts, margin: float) -> timedelta:
    """How long after it was sent a POST may still create its run."""
    return timedelta(seconds=timeouts.connect + timeouts.read + margin)


def resume_deadline(row: JournalRow, journal: Journal, life: timedelta) -> datetime:
    """The deadline of a `submitting` row found by a new session of the journal.

    A row whose POST failed in its process has the deadline that process computed. Otherwise
    the process died or stopped with the POST unanswered, so the POST was sent before it let go
    of the journal: when it released the lock if it did so cleanly, else (killed) before this
    session opened the journal.
    """
    if row.post_deadline is not None:
        return row.post_deadline
    holder = journal.previous_holder
    stopped = holder.released if holder is not None and holder.released else journal.opened_at
    return min(stopped, journal.opened_at) + life
