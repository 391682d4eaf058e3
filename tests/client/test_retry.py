"""The one retry loop (asyncrun._retry): attempts counted, pauses asked for between them, the
right error raised, Retry-After honoured and capped."""

from __future__ import annotations

import random

import pytest

from asyncrun import APIConnectionError, BadRequestError, RetryPolicy, ServerError
from asyncrun._retry import Failure, retry_delay, retry_transient, retrying


async def test_a_retryable_failure_is_retried_until_the_attempts_run_out() -> None:
    calls: list[int] = []
    pauses: list[int] = []

    async def once() -> str | Failure:
        calls.append(1)
        return Failure(ServerError(f"attempt {len(calls)}", status_code=503), retryable=True)

    async def pause(attempt: int, failure: Failure) -> None:
        pauses.append(attempt)

    with pytest.raises(ServerError, match="attempt 4"):
        await retrying(once, attempts=4, pause=pause)
    assert len(calls) == 4 and pauses == [0, 1, 2]  # no pause after the last attempt


async def test_a_value_ends_the_loop_and_a_final_failure_is_raised_at_once() -> None:
    answers: list[str | Failure] = [
        Failure(ServerError("5xx", status_code=502), retryable=True),
        "ok",
    ]

    async def once() -> str | Failure:
        return answers.pop(0)

    async def pause(attempt: int, failure: Failure) -> None:
        return None

    assert await retrying(once, attempts=5, pause=pause) == "ok"

    async def refused() -> str | Failure:
        return Failure(BadRequestError("no", status_code=400), retryable=False)

    with pytest.raises(BadRequestError):
        await retrying(refused, attempts=5, pause=pause)


async def test_only_transient_errors_are_read_again() -> None:
    errors: list[Exception] = [APIConnectionError("down"), ValueError("a bug")]

    async def read() -> str:
        raise errors.pop(0)

    async def pause(attempt: int, failure: Failure) -> None:
        return None

    with pytest.raises(ValueError, match="a bug"):
        await retry_transient(read, attempts=5, pause=pause)
    assert not errors  # read twice: the connection error was retried, the bug was not


def test_retry_after_is_honoured_and_capped_else_full_jitter() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, max_retry_after=30.0)
    rng = random.Random(0)
    error = ServerError("busy", status_code=503)
    assert retry_delay(policy, 0, Failure(error, True, retry_after=12.0), rng) == 12.0
    assert retry_delay(policy, 0, Failure(error, True, retry_after=600.0), rng) == 30.0
    jittered = [retry_delay(policy, 2, Failure(error, True), rng) for _ in range(100)]
    assert all(0.0 <= d <= 4.0 for d in jittered) and len(set(jittered)) > 50
