"""Shared fixtures: the in-process emulator (see docs/internals.md, "The emulator's Python API")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import pytest
from fast_polling import FAST_POLLING

from asyncrun import PollingOptions
from asyncrun.emulator import Emulator, EmulatorConfig, ThreadedEmulator, serve, serve_in_thread

TEST_KEY = "test-key"


def _config(config: EmulatorConfig | None, changes: dict[str, Any]) -> EmulatorConfig:
    base = config if config is not None else EmulatorConfig(api_key=TEST_KEY)
    return base.replace(**changes) if changes else base


@pytest.fixture
def fast_polling() -> PollingOptions:
    """Polling options for tests: tens of milliseconds between polls (tests/fast_polling.py)."""
    return FAST_POLLING


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator on this test's event loop, default config, accepting the key "test-key"."""
    async with serve(EmulatorConfig(api_key=TEST_KEY)) as emu:
        yield emu


@pytest.fixture
def emulator_factory() -> Callable[..., AbstractAsyncContextManager[Emulator]]:
    """`async with emulator_factory(cfg) as emu` (or `emulator_factory(time_scale=50)`)."""

    def factory(
        config: EmulatorConfig | None = None, **changes: Any
    ) -> AbstractAsyncContextManager[Emulator]:
        return serve(_config(config, changes))

    return factory


@pytest.fixture
def emulator_thread() -> Iterator[ThreadedEmulator]:
    """An emulator on its own loop in a thread, for sync clients (the official SDK)."""
    with serve_in_thread(EmulatorConfig(api_key=TEST_KEY)) as emu:
        yield emu


@pytest.fixture
def emulator_thread_factory() -> Callable[..., AbstractContextManager[ThreadedEmulator]]:
    """`with emulator_thread_factory(cfg) as emu`: a threaded emulator with a custom config."""

    def factory(
        config: EmulatorConfig | None = None, **changes: Any
    ) -> AbstractContextManager[ThreadedEmulator]:
        return serve_in_thread(_config(config, changes))

    return factory


@pytest.fixture
def tls_emulator(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    """A threaded emulator over TLS (its CA in `ca_file`), time at 50x."""
    with emulator_thread_factory(tls=True, time_scale=50) as emu:
        yield emu
