"""Connection slots (asyncrun/_slots.py): turns kept, slots handed over, a stalled pool."""

from __future__ import annotations

import asyncio

import pytest

from asyncrun._slots import ConnectionSlots, PoolStalled


async def _waiting(slots: ConnectionSlots, count: int) -> None:
    for _ in range(100):
        if slots.waiting == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{slots.waiting} waiting, not {count}")


async def test_a_released_slot_goes_to_the_first_waiter_not_to_a_newcomer() -> None:
    slots = ConnectionSlots(1, patience=60.0)
    await slots.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await slots.acquire()
        order.append(name)

    first = asyncio.ensure_future(take("first"))
    second = asyncio.ensure_future(take("second"))
    await _waiting(slots, 2)
    slots.release()
    newcomer = asyncio.ensure_future(take("newcomer"))  # arrives before "first" resumes
    await first
    assert order == ["first"] and slots.free == 0
    slots.release()
    await second
    slots.release()
    await newcomer
    assert order == ["first", "second", "newcomer"]
    slots.release()
    assert slots.free == 1 and slots.waiting == 0


async def test_a_waiter_cancelled_as_it_is_handed_a_slot_passes_it_on() -> None:
    slots = ConnectionSlots(1, patience=60.0)
    await slots.acquire()
    cancelled = asyncio.ensure_future(slots.acquire())
    after = asyncio.ensure_future(slots.acquire())
    await _waiting(slots, 2)
    slots.release()  # handed to `cancelled`, which is cancelled before it resumes
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await after
    assert slots.free == 0
    slots.release()
    assert slots.free == 1


async def test_a_pool_that_frees_nothing_fails_its_waiters_and_keeps_its_count() -> None:
    slots = ConnectionSlots(1, patience=0.05)
    await slots.acquire()  # held for good: the pool does not move
    waiters = [asyncio.ensure_future(slots.acquire()) for _ in range(3)]
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(r) for r in results] == [PoolStalled] * 3
    slots.release()
    assert slots.free == 1 and slots.waiting == 0
    await slots.acquire()  # the slot is whole again
    assert slots.free == 0


async def test_requests_asking_to_go_first_are_served_before_earlier_waiters() -> None:
    """Submissions queue ahead of reads (a run submitted sooner ends sooner), in their own
    arrival order; the reads then go in theirs."""
    slots = ConnectionSlots(1, patience=60.0)
    await slots.acquire()
    order: list[str] = []

    async def take(name: str, first: bool) -> None:
        await slots.acquire(first=first)
        order.append(name)
        slots.release()

    tasks = [
        asyncio.ensure_future(take(name, name.startswith("post")))
        for name in ("read-1", "read-2", "post-1", "post-2")
    ]
    await _waiting(slots, 4)
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["post-1", "post-2", "read-1", "read-2"]
    assert slots.free == 1


async def test_a_stalled_pool_fails_the_waiters_of_both_queues() -> None:
    slots = ConnectionSlots(1, patience=0.05)
    await slots.acquire()
    read = asyncio.ensure_future(slots.acquire())
    post = asyncio.ensure_future(slots.acquire(first=True))
    results = await asyncio.wait_for(asyncio.gather(read, post, return_exceptions=True), 10)
    assert all(isinstance(r, PoolStalled) for r in results)
