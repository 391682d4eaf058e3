"""The pure schedules: polling backoff, transport backoff, Retry-After parsing, token buckets."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from asyncrun import PollingOptions, RetryPolicy
from asyncrun._retry import full_jitter_delay, parse_retry_after
from asyncrun.config import Bucket, Rate, RateLimits
from asyncrun.polling import backoff_delay
from asyncrun.ratelimit import CoolDown, RateLimiter, TokenBucket

from .fakes import FakeClock

NOJITTER = PollingOptions(jitter=0.0)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (0, 1.0),  # 0.1 + 0.9*1
        (1, 1.9),  # 0.1 + 0.9*2
        (2, 3.7),
        (3, 7.3),
        (4, 14.5),
        (5, 20.0),  # capped
        (60, 20.0),
        (5000, 20.0),  # 2**5000 overflows a float: still the cap
        (10**9, 20.0),
    ],
)
def test_polling_backoff_table(attempt: int, expected: float) -> None:
    assert backoff_delay(NOJITTER, attempt, random.Random(0)) == pytest.approx(expected)


def test_polling_jitter_stays_inside_the_cap() -> None:
    options = PollingOptions(max_delay=20.0, jitter=5.0)
    rng = random.Random(1)
    delays = [backoff_delay(options, attempt, rng) for attempt in range(4, 40) for _ in range(20)]
    assert max(delays) <= 20.0
    low = [backoff_delay(options, 1, rng) for _ in range(200)]
    assert min(low) >= 1.9 and max(low) <= 6.9 and len(set(low)) > 100


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 4, 10, 2000, 10**6])
def test_full_jitter_bounds(attempt: int) -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)
    rng = random.Random(attempt)
    ceiling = min(8.0, 0.5 * 2.0 ** min(attempt, 60))
    values = [full_jitter_delay(policy, attempt, rng) for _ in range(200)]
    assert all(0.0 <= v <= ceiling for v in values)
    assert max(values) > ceiling * 0.8  # full jitter spreads over the whole range


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def http_date(offset: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + offset, tz=UTC), usegmt=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("  7 ", 7.0),
        ("-3", 0.0),
        ("100000000", 1e8),  # huge: parsed as is, the caller caps it
        ("1" * 40, float("1" * 40)),
        ("inf", None),
        ("-inf", None),
        ("nan", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("soon", None),
        ("Mon, 99 Foo 2026 00:00:00 GMT", None),
        ("Fri, 01 Jan 100000 00:00:00 GMT", None),
        (http_date(30), 30.0),
        (http_date(-30), 0.0),
        (http_date(0), 0.0),
        (http_date(7200), 7200.0),
    ],
)
def test_retry_after_table(header: str | None, expected: float | None) -> None:
    got = parse_retry_after(header, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


async def take(bucket: TokenBucket, clock: FakeClock, busy: float = 0.0) -> float:
    """Get a slot, hold it `busy` virtual seconds (the request), return when it was granted."""
    async with bucket.slot():
        granted = clock.now
        if busy:
            await clock.sleep(busy)
    return granted - 1000.0


async def test_token_bucket_allows_burst_then_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(count=5, per_seconds=1.0), clock=clock, sleep=clock.sleep)
    times = [await take(bucket, clock) for _ in range(12)]
    assert times == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2]
    for start in times:  # never more than 5 in any 1-second window
        assert sum(1 for t in times if start <= t < start + 1.0) <= 5


async def test_window_counts_from_the_answer_not_the_send() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(count=1, per_seconds=1.0), clock=clock, sleep=clock.sleep)
    assert await take(bucket, clock, busy=0.5) == 0.0  # answered at 0.5
    assert await take(bucket, clock) == pytest.approx(1.5)


async def test_token_bucket_is_fifo_under_many_waiters() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(count=2, per_seconds=1.0), clock=clock, sleep=clock.sleep)
    order: list[int] = []
    times: list[float] = []

    async def one(i: int) -> None:
        times.append(await take(bucket, clock))
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(50)))
    assert order == list(range(50))  # no later arrival served before an earlier one
    assert times == [float(i // 2) for i in range(50)]


async def test_token_bucket_cancelled_waiter_leaves_its_slot_to_the_next() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(count=1, per_seconds=1.0), clock=clock, sleep=clock.sleep)
    await take(bucket, clock)  # t=0
    waiter = asyncio.ensure_future(take(bucket, clock))
    queued = asyncio.ensure_future(take(bucket, clock))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await queued == pytest.approx(1.0)  # the cancelled waiter's slot, not t=2


async def test_cooldown_retry_after_capped_and_default_exponential() -> None:
    clock = FakeClock()
    cool = CoolDown(
        RetryPolicy(initial_delay=0.5, max_retry_after=10.0), clock=clock, sleep=clock.sleep
    )
    assert cool.trigger(3.0) == 3.0
    assert cool.trigger(500.0) == 10.0
    cool.reset()
    assert [cool.trigger(None) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    start = clock.now
    await cool.wait()
    assert clock.now - start == pytest.approx(10.0)


async def test_rate_limiter_waits_cooldown_for_every_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits.unlimited(), RetryPolicy(), clock=clock, sleep=clock.sleep)
    limiter.cooldown.trigger(2.0)

    async def through(bucket: Bucket | None) -> None:
        async with limiter.slot(bucket):
            pass

    await asyncio.gather(through("create"), through(None), through("result"))
    assert clock.now - 1000.0 == pytest.approx(2.0)
