"""The adaptive first-poll estimator (pure)."""

from __future__ import annotations

import pytest

from asyncrun.batch.estimator import Cohort, PollEstimator, quantile


def test_quantile_interpolates() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert quantile(values, 0.0) == 1.0
    assert quantile(values, 0.5) == 3.0
    assert quantile(values, 1.0) == 5.0
    assert quantile(values, 0.1) == pytest.approx(1.4)
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_no_advice_before_enough_runs_finished() -> None:
    estimator = PollEstimator(min_samples=3)
    estimator.observe(2.0)
    estimator.observe(3.0)
    assert estimator.first_poll_after() is None
    assert estimator.poll_interval(0.0) is None
    estimator.observe(4.0)
    assert estimator.first_poll_after() is not None


def test_first_poll_at_a_low_quantile_and_range_based_interval() -> None:
    estimator = PollEstimator(min_samples=5, first_quantile=0.1, divisions=5)
    for seconds in [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0]:
        estimator.observe(seconds)
    assert estimator.first_poll_after() == pytest.approx(11.0)
    assert estimator.poll_interval(12.0) == pytest.approx((20.0 - 11.0) / 5)


def test_beyond_every_observed_duration_the_interval_is_a_fraction_of_the_age() -> None:
    estimator = PollEstimator(min_samples=2, beyond_fraction=0.2)
    estimator.observe(1.0)
    estimator.observe(2.0)
    assert estimator.poll_interval(5.0) == pytest.approx(1.0)
    assert estimator.poll_interval(50.0) == pytest.approx(10.0)


def test_window_forgets_old_observations() -> None:
    estimator = PollEstimator(min_samples=1, window=3, first_quantile=0.0)
    for seconds in [100.0, 1.0, 2.0, 3.0]:
        estimator.observe(seconds)
    assert estimator.samples == 3
    assert estimator.first_poll_after() == 1.0
    assert estimator.poll_interval(0.0) == pytest.approx(max(0.1, (3.0 - 1.0) / 5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_nonsense_observations_are_ignored(bad: float) -> None:
    estimator = PollEstimator(min_samples=1)
    estimator.observe(bad)
    assert estimator.samples == 0


def test_interval_has_a_floor() -> None:
    estimator = PollEstimator(min_samples=2, min_interval=0.1)
    estimator.observe(5.0)
    estimator.observe(5.0)
    assert estimator.poll_interval(0.0) == 0.1
    assert estimator.poll_interval(0.2) == 0.1


def test_within_range_only_with_data_and_below_the_longest_run_seen() -> None:
    estimator = PollEstimator(min_samples=2)
    assert not estimator.within_range(1.0)
    estimator.observe(2.0)
    estimator.observe(4.0)
    assert estimator.within_range(3.9)
    assert not estimator.within_range(4.0)


def test_the_cohort_tells_what_share_of_the_runs_submitted_as_long_ago_finished() -> None:
    cohort = Cohort()
    runs = [cohort.add(i / 1000) for i in range(1000)]  # 1,000 runs over a second
    assert cohort.finished_share(-1.0) is None  # none submitted that early
    for seq in runs[:300:3]:  # 100 of the first 300 finish, one of them twice
        cohort.finished(seq)
    cohort.finished(runs[0])
    assert cohort.finished_share(0.2995) == pytest.approx(100 / 300)
    assert cohort.finished_share(1.0) == pytest.approx(100 / 1000)
    for seq in runs[300:]:
        cohort.finished(seq)
    assert cohort.finished_share(1.0) == pytest.approx(800 / 1000)
    # A run handed in late (its POST answered after a later one's) keeps the order.
    late = cohort.add(0.5)
    cohort.finished(late)
    assert cohort.finished_share(0.9995) == pytest.approx(801 / 1001)
