"""Leases spread projections over live workers and move a dead worker's share on: at
once when its connections close, once it stopped when only its lock session was ended
under it, after its timed lease when it only went silent."""

from __future__ import annotations

import asyncio
import time

import pytest

from tandem.db.postgres import Pool
from tandem.leases import Leases, LeasesLost
from tests.services.conftest import LeasesOf, lock_session_pid

pytestmark = pytest.mark.services

NAMES = ["a", "b", "c", "d", "e"]


@pytest.fixture
def pool(leases_pool: Pool) -> Pool:
    return leases_pool


async def _share(one: Leases, two: Leases) -> None:
    """Rebalance both until they split NAMES between them."""
    await one.rebalance(NAMES)
    await two.rebalance(NAMES)  # registers; one still holds all
    await one.give_back((await one.rebalance(NAMES)).surplus)
    await two.rebalance(NAMES)
    assert one.held and two.held


async def _until_taken(leases: Leases, names: set[str], within: float) -> tuple[set[str], float]:
    began = time.monotonic()
    taken: set[str] = set()
    while time.monotonic() - began < within and not names <= leases.held:
        taken |= set((await leases.rebalance(NAMES)).acquired)
        await asyncio.sleep(0.02)
    return taken, time.monotonic() - began


async def test_a_lone_worker_takes_everything(leases_of: LeasesOf) -> None:
    one = leases_of("one", ttl=2)
    changes = await one.rebalance(NAMES)
    assert changes.acquired == NAMES and changes.surplus == []
    assert (await one.rebalance(NAMES)).acquired == []


async def test_a_second_worker_gets_a_fair_share_and_nothing_is_held_twice(
    leases_of: LeasesOf,
) -> None:
    one, two = leases_of("one", ttl=2), leases_of("two", ttl=2)
    await one.rebalance(NAMES)
    assert (await two.rebalance(NAMES)).acquired == []  # all locked by one
    changes = await one.rebalance(NAMES)  # now sees two workers: keeps ceil(5/2) = 3
    assert len(changes.surplus) == 2 and one.held >= set(changes.surplus)
    assert (await two.rebalance(NAMES)).acquired == []  # not given back yet
    await one.give_back(changes.surplus)
    await two.rebalance(NAMES)
    assert one.held.isdisjoint(two.held)
    assert one.held | two.held == set(NAMES)
    assert sorted(map(len, (one.held, two.held))) == [2, 3]


async def test_a_dead_workers_share_is_taken_at_once_though_its_lease_has_time_left(
    leases_of: LeasesOf,
) -> None:
    one, two = leases_of("one", ttl=30), leases_of("two", ttl=30, grace=0.2)
    await _share(one, two)
    orphans = set(one.held)
    await one.session.close()  # what the kernel does when the process dies
    taken, took = await _until_taken(two, orphans, within=5)
    assert two.held == set(NAMES) and orphans <= taken
    assert 0.2 <= took < 2, took  # after the grace, long before the 30 s lease


async def test_a_live_workers_share_waits_for_it_to_stop_when_its_lock_session_is_ended(
    pool: Pool, leases_of: LeasesOf
) -> None:
    """Its lease locks are gone but its life line holds (its runners may still run):
    the share moves only once it says it stopped, however long that takes."""
    one, two = leases_of("one", ttl=30), leases_of("two", ttl=30, grace=0.2)
    await _share(one, two)
    orphans = set(one.held)
    await pool.fetchval(
        "SELECT pg_terminate_backend($1)", await lock_session_pid(pool, one.worker_id)
    )
    async with asyncio.timeout(2):
        await one.lost.wait()
    assert not await two.vacant(NAMES)  # nothing to wake for
    taken, _ = await _until_taken(two, orphans, within=1.5)
    assert taken == set() and two.held.isdisjoint(orphans)
    await one.drop()  # its runners stopped
    taken, took = await _until_taken(two, orphans, within=5)
    assert orphans <= taken and took < 1.5, took  # the grace, then at once


async def test_a_live_workers_share_is_waited_for_only_until_its_timed_lease_runs_out(
    pool: Pool, leases_of: LeasesOf
) -> None:
    """Its lock session ended and its life line holding, a worker that never says it
    stopped (stuck stopping its runners) keeps its share until its lease's time runs
    out, and no longer: the lease bounds the wait."""
    one, two = leases_of("one", ttl=2), leases_of("two", ttl=2, grace=0.2)
    await _share(one, two)
    orphans = set(one.held)
    renewed = time.monotonic()  # `one` renewed its leases last inside `_share`
    await pool.fetchval(
        "SELECT pg_terminate_backend($1)", await lock_session_pid(pool, one.worker_id)
    )
    async with asyncio.timeout(2):
        await one.lost.wait()
    taken, _ = await _until_taken(two, orphans, within=one.ttl / 2)
    assert taken == set(), "taken while its life line holds and its lease has time left"
    taken, _ = await _until_taken(two, orphans, within=5)
    waited = time.monotonic() - renewed
    assert orphans <= taken and two.held == set(NAMES)
    assert one.ttl - 0.5 <= waited < one.ttl + 1.5, waited


async def test_a_silent_worker_keeps_its_share_until_its_timed_lease_runs_out(
    leases_of: LeasesOf,
) -> None:
    """Alive but cut off (its lock session still open): only the time limit frees its
    share, and the worker that takes it over ends the stale lock session."""
    one, two = leases_of("one", ttl=1), leases_of("two", ttl=1)
    await _share(one, two)
    orphans = set(one.held)
    silent_since = time.monotonic()
    taken, _ = await _until_taken(two, orphans, within=5)
    assert two.held == set(NAMES) and orphans <= taken
    assert time.monotonic() - silent_since >= one.ttl
    assert not one.session.alive  # the stale session was ended


async def test_a_lock_session_ended_by_the_server_is_lost_and_replaced(
    pool: Pool, leases_of: LeasesOf
) -> None:
    one = leases_of("one", ttl=30)
    await one.rebalance(NAMES)
    await pool.fetchval(
        "SELECT pg_terminate_backend($1)", await lock_session_pid(pool, one.worker_id)
    )
    async with asyncio.timeout(2):
        await one.lost.wait()
    with pytest.raises(LeasesLost):  # its runners must stop first
        await one.rebalance(NAMES)
    await one.drop()
    # Its old rows name the old id, whose life line went with `drop`: orphans, free
    # after the grace.
    taken, took = await _until_taken(one, set(NAMES), within=5)
    assert taken == set(NAMES) and took >= one.grace, took
    assert one.worker_id == "one.1" and one.session.alive


async def test_release_all_hands_leases_over_at_once(leases_of: LeasesOf) -> None:
    one, two = leases_of("one", ttl=30), leases_of("two", ttl=30)
    await one.rebalance(NAMES)
    await one.release_all()
    assert (await two.rebalance(NAMES)).acquired == NAMES


async def test_workers_not_heard_from_for_an_hour_are_forgotten(
    pool: Pool, leases_of: LeasesOf
) -> None:
    await pool.execute(
        "INSERT INTO tandem_workers (id, seen_at) VALUES"
        " ('gone', now() - interval '2 hours'), ('recent', now() - interval '1 minute')"
    )
    await leases_of("one").rebalance(NAMES)
    ids = {r["id"] for r in await pool.fetch("SELECT id FROM tandem_workers")}
    assert ids == {"recent", "one"}
