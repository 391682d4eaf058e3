"""Type aliases and the one error grouping shared across the client (defined once, here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asyncrun.errors import APIConnectionError, RateLimitError, ServerError

__all__ = ["TRANSIENT_ERRORS", "Clock", "Sleep"]

Clock = Callable[[], float]
"""A monotonic clock in seconds (time.monotonic; a fake in tests)."""

Sleep = Callable[[float], Awaitable[None]]
"""An async sleep in seconds (asyncio.sleep; a fake in tests)."""

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    APIConnectionError,
    ServerError,
    RateLimitError,
)
"""Failures that may heal: no connection or no answer, a 5xx, a 429. The transport has already
retried them by its own rules when they reach a caller; `_retry.is_transient` classifies."""
