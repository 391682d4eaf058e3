"""Fixtures of the SDK-driven emulator tests: a threaded emulator and an official SDK app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

SDK_APP_ID = "conf-app"


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    """A threaded emulator, 20x time, pages of 5 (so listing tests cross pages)."""
    with emulator_thread_factory(time_scale=20.0, page_size=5) as running:
        yield running


@pytest.fixture
def app(emu: ThreadedEmulator) -> cloud.Application:
    """The official SDK's Application on `emu`."""
    client = cloud.Client(api_key="test-key", url=emu.url)
    return cloud.Application(client=client, id=SDK_APP_ID)
