"""Retrying, in one place: the retry loop every retrying caller uses, its delays (full-jitter
backoff; Retry-After honoured and capped) and which errors are transient.

An attempt returns its value or a `Failure` that says whether it may be retried; the caller's
`pause` waits between attempts (the transport's waits on a shared 429 cool-down, the batch's
follow the polling backoff), so the schedule stays the caller's and the loop is shared.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

from asyncrun._types import TRANSIENT_ERRORS
from asyncrun.config import RetryPolicy
from asyncrun.errors import CertificateVerifyError, ProxyError

__all__ = [
    "Failure",
    "full_jitter_delay",
    "is_transient",
    "no_pause",
    "parse_retry_after",
    "retry_after",
    "retry_delay",
    "retry_transient",
    "retrying",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """One failed attempt: the error to raise if it is the last, and how to retry it."""

    error: BaseException
    retryable: bool
    retry_after: float | None = None  # seconds the server asked for (Retry-After), uncapped
    rate_limited: bool = False  # a 429: the caller's pause waits on its shared cool-down


Pause = Callable[[int, Failure], Awaitable[None]]
"""Waits before the next attempt, given the index (from 0) of the attempt that failed."""


async def retrying(once: Callable[[], Awaitable[T | Failure]], *, attempts: int, pause: Pause) -> T:
    """Call `once` until it returns a value, at most `attempts` times; raise the error of a
    failure that is not retryable, or of the last attempt."""
    outcome = await once()
    if not isinstance(outcome, Failure):
        return outcome
    return await retry_after(outcome, once, attempts=attempts, pause=pause)


async def retry_after(
    failure: Failure, once: Callable[[], Awaitable[T | Failure]], *, attempts: int, pause: Pause
) -> T:
    """`retrying` after a first attempt that was made by the caller and failed with `failure`
    (a hot path makes its first attempt without the loop)."""
    outcome = failure
    for attempt in range(1, attempts):
        if not outcome.retryable:
            break
        await pause(attempt - 1, outcome)
        next_outcome = await once()
        if not isinstance(next_outcome, Failure):
            return next_outcome
        outcome = next_outcome
    raise outcome.error


async def retry_transient(read: Callable[[], Awaitable[T]], *, attempts: int, pause: Pause) -> T:
    """`read`, again after a transient error (see is_transient); other errors propagate."""

    async def once() -> T | Failure:
        try:
            return await read()
        except Exception as exc:
            if not is_transient(exc):
                raise
            return Failure(exc, retryable=True)

    return await retrying(once, attempts=attempts, pause=pause)


async def no_pause(attempt: int, failure: Failure) -> None:
    """Retry at once (the attempt itself already waited, e.g. for a lookup)."""


def is_transient(exc: BaseException) -> bool:
    """Whether an error that reached a caller may heal if the call is made again later.

    A certificate the client does not trust, or a proxy that refused or could not be reached
    (the transport already spent its retries on it), is a connection error that does not."""
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(
        exc, CertificateVerifyError | ProxyError
    )


def retry_delay(policy: RetryPolicy, attempt: int, failure: Failure, rng: random.Random) -> float:
    """The pause after the failed `attempt` (from 0): the server's Retry-After capped at
    `policy.max_retry_after` when it sent one, else the full-jitter backoff."""
    if failure.retry_after is not None:
        return min(failure.retry_after, policy.max_retry_after)
    return full_jitter_delay(policy, attempt, rng)


def full_jitter_delay(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """uniform(0, min(max_delay, initial_delay * 2**attempt)); safe for any attempt number."""
    try:
        ceiling = math.ldexp(policy.initial_delay, max(attempt, 0))
    except OverflowError:
        ceiling = math.inf
    return rng.uniform(0.0, min(policy.max_delay, ceiling))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    None for a missing or unusable value (empty, garbage, inf, nan); a negative delta or a date
    in the past gives 0. The caller applies its cap.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _parse_http_date(text, time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _parse_http_date(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None
