"""Process settings a long batch runs best with, for entry points that own the process (the CLI,
the benchmarks). The library itself never changes them behind its caller's back.

A batch keeps thousands of runs in flight, and the client is then CPU-bound: measured on the
2,000-run benchmark, CPython's cyclic garbage collector took about a fifth of the client's CPU
(hundreds of young-generation passes, each also walking the long-lived objects promoted by
earlier ones). `throughput_gc` moves what is alive at the start out of the collector's way
(`gc.freeze`) and collects the young generation every 50,000 allocations instead of 700; memory
still follows reference counting, only cyclic garbage lives a little longer. `loop_factory`
picks uvloop when it is installed (`pip install 'asyncrun[fast]'`).

`quick_handoff` shortens the interpreter's switch interval. The journal writes in a thread of
its own, and each SQLite statement there lets go of the GIL and must then win it back from the
event loop, which (busy with thousands of runs) keeps it for the whole switch interval: 5 ms by
default, so a transaction of 400 statements took about 2 s, and finished runs waited that long
for their journal row. At 0.2 ms the same transaction takes a few tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["loop_factory", "loop_name", "quick_handoff", "run", "throughput_gc"]

T = TypeVar("T")

YOUNG_THRESHOLD = 50_000
SWITCH_INTERVAL = 0.0002


@contextmanager
def throughput_gc(threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Collect the young generation every `threshold` allocations while inside; the settings
    (and the frozen objects) are restored on exit."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


@contextmanager
def quick_handoff(interval: float = SWITCH_INTERVAL) -> Iterator[None]:
    """The GIL handed to a waiting thread after `interval` seconds while inside (restored on
    exit)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, before))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when uvloop is installed, else None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    return "uvloop" if loop_factory() is not None else "asyncio"


def run(main: Coroutine[Any, Any, T], *, tuned: bool = True) -> T:
    """asyncio.run for a batch: uvloop when installed, `throughput_gc` and `quick_handoff`,
    unless `tuned` is False (the default loop, collector and switch interval)."""
    if not tuned:
        return asyncio.run(main)
    with (
        asyncio.Runner(loop_factory=loop_factory()) as runner,
        throughput_gc(),
        quick_handoff(),
    ):
        return runner.run(main)
