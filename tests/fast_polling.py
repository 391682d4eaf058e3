"""The polling options every test suite uses when a run should be seen final quickly: one
definition, exposed as the `fast_polling` fixture (tests/conftest.py) and imported by the suites'
helpers that need it at module level."""

from __future__ import annotations

from asyncrun import PollingOptions

FAST_POLLING = PollingOptions(
    initial_delay=0.01, delay=0.01, backoff=0.01, max_delay=0.1, jitter=0.01
)
"""Polling for tests: tens of milliseconds between polls."""
