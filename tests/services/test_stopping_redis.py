"""Tasks on Redis stop when asked, though the client sometimes loses a cancellation.

redis-py sends each command under `asyncio.wait_for` when the client has a socket
timeout (5 s by default), and on Python 3.11 `wait_for` drops a cancellation that lands
as the send completes: the task goes on running. A projection runner or a listener
stopped that way kept its worker's (or its catalog's) stop waiting forever.
`tandem.stopping.finish` asks again until the task has ended.
"""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio

from tandem.stopping import finish
from tests.support.services import REDIS_URL, redis_prefix

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

ROUNDS = 400


async def _polling(client: redis.asyncio.Redis, key: str) -> None:
    """What an idle runner does: read, wait a moment, read again."""
    while True:
        await client.get(key)
        await asyncio.sleep(random.choice([0, 0.001]))


async def test_every_task_reading_redis_ends_when_finished() -> None:
    key = redis_prefix() + ":stopping"
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    rng = random.Random(7)
    asked_again = 0
    try:
        for _ in range(ROUNDS):
            task = asyncio.create_task(_polling(client, key))
            await asyncio.sleep(rng.uniform(0, 0.004))
            async with asyncio.timeout(10):  # a lost cancellation would hang here
                await finish([task], every=0.05)
            assert task.cancelled()
            asked_again += task.cancelling() > 1
    finally:
        await client.aclose()
    # Not asserted (it depends on timing and on the client's version), only shown.
    print(f"{asked_again} of {ROUNDS} tasks needed their cancellation asked again")
