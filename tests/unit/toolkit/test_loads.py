"""Shared loads: concurrent misses of one key read the store once, unless they need a
later version than the load under way asked for; a failed load sends its joiners to
read for themselves; a reader that goes away leaves the load to the others."""

from __future__ import annotations

import asyncio

import pytest

from tandem.loads import Loads


class Store:
    def __init__(self) -> None:
        self.reads: list[str] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def read(self, key: str) -> str:
        self.reads.append(key)
        number = len(self.reads)  # which read of the store this is
        failing, self.fail_next = self.fail_next, False
        await self.release.wait()
        if failing:
            raise ConnectionError("store went away")
        return f"{key}@{number}"


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_misses_of_one_key_share_one_read() -> None:
    store, loads = Store(), Loads[str, str]()
    readers = [
        asyncio.ensure_future(loads.load("p", 0, lambda: store.read("p"))) for _ in range(10)
    ]
    other = asyncio.ensure_future(loads.load("q", 0, lambda: store.read("q")))
    await _settle()
    store.release.set()
    assert set(await asyncio.gather(*readers)) == {"p@1"}
    assert await other == "q@2"
    assert store.reads == ["p", "q"] and len(loads) == 0


async def test_a_miss_needing_a_later_version_reads_for_itself() -> None:
    store, loads = Store(), Loads[str, str]()
    early = asyncio.ensure_future(loads.load("p", 5, lambda: store.read("p")))
    same = asyncio.ensure_future(loads.load("p", 3, lambda: store.read("p")))
    later = asyncio.ensure_future(loads.load("p", 9, lambda: store.read("p")))
    await _settle()
    store.release.set()
    assert (await early, await same, await later) == ("p@1", "p@1", "p@2")
    assert store.reads == ["p", "p"]


async def test_the_joiners_of_a_failed_load_read_for_themselves() -> None:
    store, loads = Store(), Loads[str, str]()
    store.fail_next = True
    first = asyncio.ensure_future(loads.load("p", 0, lambda: store.read("p")))
    joiner = asyncio.ensure_future(loads.load("p", 0, lambda: store.read("p")))
    await _settle()
    store.release.set()
    with pytest.raises(ConnectionError):
        await first
    assert await joiner == "p@2"


async def test_a_reader_that_goes_away_leaves_the_load_to_the_others() -> None:
    store, loads = Store(), Loads[str, str]()
    leaving = asyncio.ensure_future(loads.load("p", 0, lambda: store.read("p")))
    staying = asyncio.ensure_future(loads.load("p", 0, lambda: store.read("p")))
    await _settle()
    leaving.cancel()
    await _settle()
    store.release.set()
    assert await staying == "p@1"
    assert leaving.cancelled() and store.reads == ["p"]
