"""Fixtures for the batch tests: a fast client and fast polling."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fast_polling import FAST_POLLING

from asyncrun import AsyncClient, Limits, RateLimits, RetryPolicy, Timeouts

KEY = "test-key"

FAST = FAST_POLLING


MARGIN = 0.5
"""submit_margin for tests: with fast_client's timeouts a lost submit's deadline is 2 s away."""


def fast_client(url: str, **kwargs: Any) -> AsyncClient:
    """No client-side rate limit, short retry sleeps and a short cap on Retry-After; short
    connect and read timeouts (a submit whose answer was lost is looked up after them)."""
    kwargs.setdefault("timeouts", Timeouts(connect=0.5, read=1.0))
    kwargs.setdefault("limits", Limits(max_connections=50, rate=RateLimits.unlimited()))
    kwargs.setdefault(
        "retry",
        RetryPolicy(max_attempts=8, initial_delay=0.001, max_delay=0.02, max_retry_after=0.05),
    )
    return AsyncClient(KEY, url, **kwargs)


def digest(value: Any) -> str:
    """The emulator's input digest of a JSON input."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
