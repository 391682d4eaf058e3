"""Fixtures of the experiment tests: a threaded emulator and the official SDK on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import KEY


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    """Fast runs (50x time) and pages of 2, so listings cross pages."""
    with emulator_thread_factory(time_scale=50.0, page_size=2) as running:
        yield running


@pytest.fixture
def client(emu: ThreadedEmulator) -> cloud.Client:
    return cloud.Client(api_key=KEY, url=emu.url)


@pytest.fixture
def app(client: cloud.Client) -> cloud.Application:
    """An auto-created app: every instance id runs the built-in model."""
    return cloud.Application(client=client, id="exp-app")
