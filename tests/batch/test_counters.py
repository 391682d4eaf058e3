"""BatchCounters: every change is one scenario moving from one place to the next, so the counts
always add up (the pacer reads `running`)."""

from __future__ import annotations

from asyncrun.batch.counters import BatchCounters


def _unfinished_and_finished(counters: BatchCounters) -> int:
    return counters.queued + counters.running + counters.finished


def test_moves_keep_the_counts_adding_up() -> None:
    counters = BatchCounters()
    for _ in range(6):
        counters.move(None, "queued")
    assert counters.max_ahead == 6
    counters.move("queued", "skipped")  # finished by an earlier process
    counters.move("queued", "error")  # refused before any run existed
    for _ in range(4):
        counters.move("queued", "running")
    assert (counters.queued, counters.running) == (0, 4)
    for status in ("succeeded", "failed", "canceled", "queued_forever"):
        counters.move("running", status)
    assert counters.running == 0
    assert (counters.succeeded, counters.failed, counters.canceled) == (1, 1, 1)
    assert (counters.errors, counters.skipped, counters.finished) == (2, 1, 6)
    assert _unfinished_and_finished(counters) == counters.pulled == 6


def test_max_ahead_is_the_most_pulled_and_unfinished_at_once() -> None:
    counters = BatchCounters()
    counters.move(None, "queued")
    counters.move(None, "queued")
    counters.move("queued", "succeeded")
    counters.move(None, "queued")
    assert counters.max_ahead == 2
