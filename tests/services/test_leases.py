"""Leases spread projections over live workers and move a dead worker's share on."""

from __future__ import annotations

import asyncio

import pytest

from tandem.db.postgres import Pool
from tandem.leases import Leases

pytestmark = pytest.mark.services

NAMES = ["a", "b", "c", "d", "e"]


@pytest.fixture
def pool(leases_pool: Pool) -> Pool:
    return leases_pool


async def test_a_lone_worker_takes_everything(pool: Pool) -> None:
    one = Leases(pool, "one", ttl=2)
    changes = await one.rebalance(NAMES)
    assert changes.acquired == NAMES and changes.lost == []
    assert (await one.rebalance(NAMES)).acquired == []


async def test_a_second_worker_gets_a_fair_share_and_nothing_is_held_twice(pool: Pool) -> None:
    one, two = Leases(pool, "one", ttl=2), Leases(pool, "two", ttl=2)
    await one.rebalance(NAMES)
    await two.rebalance(NAMES)  # registers; one still holds all
    given_back = await one.rebalance(NAMES)  # now sees two workers: keeps ceil(5/2) = 3
    assert len(given_back.lost) == 2
    await two.rebalance(NAMES)
    assert one.held.isdisjoint(two.held)
    assert one.held | two.held == set(NAMES)
    assert sorted(map(len, (one.held, two.held))) == [2, 3]


async def test_a_dead_workers_share_is_taken_over_once_its_leases_expire(pool: Pool) -> None:
    one, two = Leases(pool, "one", ttl=1), Leases(pool, "two", ttl=1)
    await one.rebalance(NAMES)
    await two.rebalance(NAMES)
    await one.rebalance(NAMES)
    await two.rebalance(NAMES)
    orphaned = set(one.held)
    assert orphaned
    # `one` dies: it renews nothing. Within the lease time `two` owns everything.
    taken: set[str] = set()
    for _ in range(30):
        taken |= set((await two.rebalance(NAMES)).acquired)
        if two.held == set(NAMES):
            break
        await asyncio.sleep(0.1)
    assert two.held == set(NAMES)
    assert orphaned <= taken


async def test_release_all_hands_leases_over_at_once(pool: Pool) -> None:
    one, two = Leases(pool, "one", ttl=30), Leases(pool, "two", ttl=30)
    await one.rebalance(NAMES)
    await one.release_all()
    assert (await two.rebalance(NAMES)).acquired == NAMES
