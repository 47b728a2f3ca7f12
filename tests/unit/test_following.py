"""The follower of a cache's feed ends when cancelled, whatever its sync raises or
swallows."""

from __future__ import annotations

import asyncio

from catalog.read_models.following import follow
from tandem.consistency import VersionWatch


async def test_a_cancellation_a_driver_turns_into_an_error_still_ends_the_follower() -> None:
    entered = asyncio.Event()
    dropped: list[bool] = []

    async def sync() -> None:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ConnectionError("read cut off") from None  # as a driver may

    task = asyncio.create_task(
        follow(VersionWatch(0), asyncio.Event(), sync, lambda: dropped.append(True), "test")
    )
    await asyncio.wait_for(entered.wait(), 1)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled()
    assert dropped == []


async def test_a_cancellation_a_driver_swallows_still_ends_the_follower() -> None:
    entered = asyncio.Event()

    async def sync() -> None:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return  # as a driver may: the cancellation caught and never raised again

    task = asyncio.create_task(follow(VersionWatch(0), asyncio.Event(), sync, lambda: None, "t"))
    await asyncio.wait_for(entered.wait(), 1)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled()


async def test_an_error_of_the_store_is_retried_not_raised() -> None:
    calls: list[int] = []
    dropped: list[bool] = []

    async def sync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("store down")

    wake = asyncio.Event()
    task = asyncio.create_task(
        follow(VersionWatch(0), wake, sync, lambda: dropped.append(True), "test")
    )
    for _ in range(300):
        if len(calls) >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(calls) >= 2 and dropped == [True]
