"""Spare polling capacity (asyncrun.batch.pacing) and the pause it gives the poll schedule
(asyncrun.batch.schedule): pure arithmetic, no clock."""

from __future__ import annotations

import random

import pytest

from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.pacing import PollPacer
from asyncrun.batch.schedule import BATCH_POLLING, PollSchedule
from asyncrun.batch.status_reads import StatusReads
from asyncrun.config import Limits, Rate, RateLimits
from asyncrun.polling import backoff_delay

from .fakes import FakeApplication


def _pacer(connections: int = 100, rate: RateLimits | None = None, **kwargs: float) -> PollPacer:
    limits = Limits(max_connections=connections, rate=rate or RateLimits.unlimited())
    return PollPacer(limits, **kwargs)


def test_nothing_is_paced_before_a_latency_was_seen() -> None:
    pacer = _pacer()
    assert pacer.budget is None
    assert pacer.ceiling(10.0, running=5) is None
    assert pacer.floor() == 0.0
    assert pacer.pace(3.0, 10.0, running=5) == 3.0


def test_budget_is_a_share_of_what_the_pool_carries_at_the_latency_seen() -> None:
    pacer = _pacer(connections=100, share=0.5)
    pacer.record_latency(0.05)  # 100 connections / 0.05 s = 2,000 requests a second
    assert pacer.budget == pytest.approx(1000.0)


def test_a_limited_general_bucket_caps_the_budget() -> None:
    standard = RateLimits(general=Rate(count=2000, per_seconds=60.0))
    pacer = _pacer(connections=100, rate=standard, share=0.5)
    pacer.record_latency(0.01)
    assert pacer.budget == pytest.approx(0.5 * 2000 / 60)


def test_few_runs_in_flight_are_polled_sooner_but_never_below_a_fraction_of_their_age() -> None:
    pacer = _pacer(connections=100, share=0.5, lag_fraction=0.05, min_interval=0.1)
    pacer.record_latency(0.05)  # budget 1,000 polls a second
    assert pacer.pace(0.6, age=3.0, running=2000) == 0.6  # a busy batch: the estimator rules
    assert pacer.pace(0.6, age=3.0, running=300) == pytest.approx(0.3)
    assert pacer.pace(0.6, age=3.0, running=5) == pytest.approx(0.15)  # 5 % of the age
    assert pacer.pace(0.6, age=0.5, running=5) == pytest.approx(0.1)  # the floor


def test_the_last_runs_are_polled_at_a_smaller_fraction_of_their_age() -> None:
    pacer = _pacer(connections=100)
    pacer.record_latency(0.05)  # budget 1,000 polls a second
    assert pacer.pace(0.6, age=3.0, running=5, tail=True) == pytest.approx(0.045)  # 1.5 %
    assert pacer.pace(0.6, age=1.0, running=5, tail=True) == pytest.approx(0.03)  # the floor


def test_queueing_raises_the_floor_and_shrinks_the_spare_capacity() -> None:
    pacer = _pacer(connections=100, smoothing=1.0, latency_multiple=2.0)
    pacer.record_latency(0.01)
    idle_ceiling = pacer.ceiling(3.0, running=100)
    pacer.record_latency(0.4)  # polls now wait for a free connection
    assert pacer.floor() == pytest.approx(0.8)
    busy_ceiling = pacer.ceiling(3.0, running=100)
    assert idle_ceiling is not None and busy_ceiling is not None
    assert busy_ceiling > idle_ceiling


def test_latency_is_smoothed_and_nonsense_ignored() -> None:
    pacer = _pacer(smoothing=0.5)
    pacer.record_latency(0.2)
    pacer.record_latency(0.4)
    assert pacer.latency == pytest.approx(0.3)
    for bad in (float("nan"), float("inf"), -1.0):
        pacer.record_latency(bad)
    assert pacer.latency == pytest.approx(0.3)


@pytest.mark.parametrize("kwargs", [{"share": 0.0}, {"share": 1.5}, {"smoothing": 0.0}])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        _pacer(**kwargs)


def _schedule(adaptive: bool = True) -> PollSchedule:
    return PollSchedule(
        BATCH_POLLING.model_copy(update={"jitter": 0.0}),
        adaptive=adaptive,
        limits=Limits(),
        counters=BatchCounters(running=1),
        rng=random.Random(1),
        reads=StatusReads(FakeApplication()),
    )


def test_the_pause_is_the_estimators_lengthened_by_queueing_and_shortened_by_spare_room() -> None:
    schedule = _schedule()
    for seconds in (1.0, 1.5, 2.0, 2.5, 3.0, 1.2, 1.8, 2.2, 2.8, 3.0):
        schedule.estimator.observe(seconds)
    advised = schedule.estimator.poll_interval(2.0)
    assert schedule.next_pause(2.0, polls=2) == pytest.approx(advised)  # no latency seen yet
    schedule.pacer.record_latency(0.5)  # polls queue: not again sooner than two such waits
    assert schedule.next_pause(2.0, polls=2) == pytest.approx(1.0)
    idle = _schedule()
    idle.estimator = schedule.estimator
    idle.pacer.record_latency(0.001)  # one run left, an idle pool
    assert idle.next_pause(2.0, polls=2) == pytest.approx(advised)  # more scenarios to come
    idle.draining = True  # every scenario pulled: spare room goes to the last runs
    # The tail: 1.5 % of its age, but no more often than half the general bucket allows (one
    # run, 2,000 a minute: 0.06 s)
    assert idle.next_pause(2.0, polls=2) == pytest.approx(0.06)
    # Not yet the batch's last few runs: 5 % of its age.
    assert idle.pacer.ceiling(2.0, running=1, tail=False) == pytest.approx(0.1)


def test_without_adaptive_polling_the_backoff_alone_sets_the_pause() -> None:
    schedule = _schedule(adaptive=False)
    schedule.pacer.record_latency(5.0)
    expected = backoff_delay(schedule.polling, 1, random.Random(0))
    assert schedule.next_pause(2.0, polls=1) == pytest.approx(expected)


def test_a_run_is_likely_over_once_most_runs_submitted_as_long_ago_have_finished() -> None:
    """Observed durations are those of the runs that finished first: with 1,000 runs of 1-3 s
    submitted together, the first hundred to finish make 1.1 s look like the 0.9 quantile while
    nine runs in ten of that age still run. Its poll is its own result read (one request, no
    shared page) only once most runs as old have finished."""
    schedule = _schedule()
    schedule.small_outputs = True
    for _ in range(1000):
        schedule.cohort.add(0.0)
    for i in range(100):
        schedule.estimator.observe(1.0 + i / 1000)
        schedule.cohort.finished(i)
    assert schedule.estimator.quantile(0.9) < 1.2
    assert not schedule._direct(1.2, now=1.2)
    for i in range(100, 900):
        schedule.cohort.finished(i)
    assert schedule._direct(1.2, now=1.2)
    assert not schedule._direct(0.5, now=1.2)  # younger than most runs seen finishing
