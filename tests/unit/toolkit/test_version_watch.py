"""VersionWatch: waiting for a version without polling."""

from __future__ import annotations

import asyncio
import time

from tandem.consistency import VersionWatch


async def settle() -> None:
    """Let every ready callback and task run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_wait_returns_at_once_when_the_version_is_reached() -> None:
    watch = VersionWatch(5)
    start = time.perf_counter()
    assert await watch.wait_for(5, timeout=10)
    assert await watch.wait_for(3, timeout=0)
    assert await watch.wait_for(0)
    assert time.perf_counter() - start < 0.05


async def test_wait_wakes_exactly_when_the_target_is_reached() -> None:
    watch = VersionWatch(0)
    waiter = asyncio.create_task(watch.wait_for(3, timeout=5))
    await settle()
    assert not waiter.done()

    watch.advance(2)
    await settle()
    assert not waiter.done()

    watch.advance(3)
    await settle()
    assert waiter.done()
    assert waiter.result() is True


async def test_wait_wakes_when_the_version_jumps_past_the_target() -> None:
    watch = VersionWatch(0)
    waiter = asyncio.create_task(watch.wait_for(3, timeout=5))
    await settle()
    watch.advance(100)
    assert await asyncio.wait_for(waiter, 1) is True


async def test_wait_times_out_with_false() -> None:
    watch = VersionWatch(1)
    start = time.perf_counter()
    assert await watch.wait_for(2, timeout=0.1) is False
    elapsed = time.perf_counter() - start
    assert 0.08 <= elapsed < 1.0


async def test_a_zero_or_negative_timeout_does_not_wait() -> None:
    watch = VersionWatch(1)
    assert await watch.wait_for(2, timeout=0) is False
    assert await watch.wait_for(2, timeout=-1) is False


async def test_a_timed_out_waiter_does_not_disturb_later_waiters() -> None:
    watch = VersionWatch(0)
    assert await watch.wait_for(1, timeout=0.01) is False
    later = asyncio.create_task(watch.wait_for(1, timeout=5))
    await settle()
    watch.advance(1)
    assert await asyncio.wait_for(later, 1) is True


async def test_lower_or_equal_advances_are_ignored() -> None:
    watch = VersionWatch(10)
    watch.advance(3)
    watch.advance(10)
    assert watch.value == 10
    waiter = asyncio.create_task(watch.wait_for(11, timeout=5))
    watch.advance(9)
    await settle()
    assert not waiter.done()
    watch.advance(11)
    assert await asyncio.wait_for(waiter, 1) is True
    assert watch.value == 11


async def test_many_waiters_each_wake_when_their_own_target_is_reached() -> None:
    watch = VersionWatch(0)
    targets = [5, 1, 3, 3, 8, 2, 5, 13]
    waiters = {i: asyncio.create_task(watch.wait_for(t, timeout=5)) for i, t in enumerate(targets)}
    await settle()

    for version in [1, 2, 4, 5, 7, 8, 12, 13]:
        watch.advance(version)
        await settle()
        woken = {i for i, task in waiters.items() if task.done()}
        assert woken == {i for i, t in enumerate(targets) if t <= version}, version
    assert all(task.result() is True for task in waiters.values())


async def test_a_cancelled_waiter_does_not_block_others() -> None:
    watch = VersionWatch(0)
    cancelled = asyncio.create_task(watch.wait_for(2, timeout=5))
    kept = asyncio.create_task(watch.wait_for(2, timeout=5))
    await settle()
    cancelled.cancel()
    await settle()
    watch.advance(2)
    assert await asyncio.wait_for(kept, 1) is True
    assert cancelled.cancelled()


async def test_many_timed_out_waiters_are_forgotten() -> None:
    watch = VersionWatch(0)
    results = await asyncio.gather(*(watch.wait_for(10, timeout=0.01) for _ in range(200)))
    assert not any(results)
    waiter = asyncio.create_task(watch.wait_for(10, timeout=5))
    await settle()
    watch.advance(10)
    assert await asyncio.wait_for(waiter, 1) is True


async def test_listeners_receive_the_newest_value() -> None:
    watch = VersionWatch(0)
    queue = watch.listen()
    watch.advance(1)
    watch.advance(2)
    watch.advance(3)
    assert queue.qsize() == 1
    assert queue.get_nowait() == 3

    watch.advance(4)
    assert await asyncio.wait_for(queue.get(), 1) == 4


async def test_listeners_are_not_told_about_ignored_advances() -> None:
    watch = VersionWatch(5)
    queue = watch.listen()
    watch.advance(5)
    watch.advance(1)
    assert queue.empty()


async def test_every_listener_gets_each_value_and_unlisten_stops_delivery() -> None:
    watch = VersionWatch(0)
    first, second = watch.listen(), watch.listen()
    watch.advance(7)
    assert first.get_nowait() == 7
    assert second.get_nowait() == 7

    watch.unlisten(first)
    watch.unlisten(first)  # a second unlisten is harmless
    watch.advance(8)
    assert first.empty()
    assert second.get_nowait() == 8
