"""The process settings `asyncrun batch` and `asyncrun demo` run under (asyncrun._runtime)."""

from __future__ import annotations

import asyncio
import gc
import sys
import types

import pytest

from asyncrun import _runtime


def test_throughput_gc_raises_the_young_threshold_and_restores_everything() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with _runtime.throughput_gc(threshold=123_456):
        assert gc.get_threshold() == (123_456, *before[1:])
        assert gc.get_freeze_count() > frozen_before  # what was alive is out of the way
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before


def test_throughput_gc_restores_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), _runtime.throughput_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def test_throughput_gc_never_lowers_a_higher_threshold() -> None:
    before = gc.get_threshold()
    gc.set_threshold(900_000, *before[1:])
    try:
        with _runtime.throughput_gc(threshold=50_000):
            assert gc.get_threshold()[0] == 900_000
    finally:
        gc.set_threshold(*before)


def test_loop_factory_follows_whether_uvloop_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # importing it now fails
    assert _runtime.loop_factory() is None
    assert _runtime.loop_name() == "asyncio"


def test_run_returns_the_result_and_restores_the_collector() -> None:
    before = gc.get_threshold()

    async def main() -> tuple[int, int]:
        await asyncio.sleep(0)
        return gc.get_threshold()[0], 42

    threshold, value = _runtime.run(main())
    assert value == 42
    assert threshold >= _runtime.YOUNG_THRESHOLD
    assert gc.get_threshold() == before
    assert _runtime.run(main(), tuned=False) == (before[0], 42)


def test_loop_factory_is_uvloops_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("uvloop")
    fake.new_event_loop = asyncio.new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert _runtime.loop_factory() is asyncio.new_event_loop
    assert _runtime.loop_name() == "uvloop"


def test_quick_handoff_shortens_the_switch_interval_and_restores_it() -> None:
    before = sys.getswitchinterval()

    async def main() -> float:
        await asyncio.sleep(0)
        return sys.getswitchinterval()

    assert _runtime.run(main()) == pytest.approx(_runtime.SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), _runtime.quick_handoff(0.0001):
        assert sys.getswitchinterval() == pytest.approx(0.0001)
        raise RuntimeError("boom")
    assert sys.getswitchinterval() == before
