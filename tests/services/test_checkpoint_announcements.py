"""A worker announces its runners' checkpoints with one notification for every runner
that advanced meanwhile, and API processes read every pair of it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tandem.db.postgres import Pool
from tandem.projections.worker import CHECKPOINT_CHANNEL, CheckpointAnnouncer, _payloads
from tests.support.services import PostgresDatabase

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]


async def test_runners_that_advanced_meanwhile_share_one_notification(
    pg_pool: Pool, pg_database: PostgresDatabase
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listening = await asyncpg.connect(pg_database.url)
    await listening.add_listener(CHECKPOINT_CHANNEL, lambda *args: heard.put_nowait(args[3]))
    announcer = CheckpointAnnouncer(pg_pool)
    announcer.advanced("product_detail", 5)
    announcer.advanced("category_stats", 7)
    announcer.advanced("product_detail", 9)
    sending = asyncio.create_task(announcer.run())
    try:
        payload = await asyncio.wait_for(heard.get(), 5)
        assert sorted(payload.split()) == ["category_stats:7", "product_detail:9"]
        announcer.advanced("cart_view", 11)
        assert await asyncio.wait_for(heard.get(), 5) == "cart_view:11"
    finally:
        sending.cancel()
        await listening.close()


def test_pairs_are_split_over_payloads_a_notification_can_carry() -> None:
    latest = {f"projection_{n:04d}.part_{n}": 10**15 + n for n in range(400)}
    payloads = _payloads(latest)
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    pairs = [pair for p in payloads for pair in p.split()]
    assert pairs == [f"{name}:{position}" for name, position in latest.items()]
