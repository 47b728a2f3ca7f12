"""A Redis read store that goes away, comes back empty or comes back older.

Regression tests of what the chaos runs found: a runner took an unreachable Redis for a
poison event and stopped in `failed` for good; a wiped (or rolled back) store got the
next batch folded onto it from the runner's own checkpoint, skipping every event in
between; API processes went on answering at the checkpoint they had seen. Each test
runs against a `redis-server` of its own, stopped and wiped at will.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio

from catalog.domain import commands as c
from catalog.domain.errors import NotFound
from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.bus import Dispatch
from tandem.consistency import VersionWatch
from tandem.errors import ReadModelBehind, ReadModelLost
from tandem.middleware import consistency
from tandem.projections.remote import RemoteProjection
from tandem.projections.runner import ProjectionRunner, ProjectionState, RetryPolicy
from tandem.stores.redis import RedisProjectionStore
from tests.support.own_services import OwnNats, OwnRedis

pytestmark = [pytest.mark.services, pytest.mark.chaos, pytest.mark.timeout(120)]


@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
async def client(own_redis: OwnRedis) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(own_redis.url)
    try:
        yield client
    finally:
        await client.aclose()


async def _products(catalog: EmbeddedRuntime, count: int) -> None:
    bus = catalog.command_bus
    category = (await bus.dispatch(c.CreateCategory(name="Loss"))).id
    for i in range(count):
        await bus.dispatch(
            c.CreateProduct(
                sku=f"LOSS-{uuid4().hex[:10]}",
                name=f"Item {i}",
                category_id=category,
                price=Decimal("1.50"),
            )
        )


async def _head(catalog: EmbeddedRuntime) -> int:
    return await catalog.log_reader.head()


async def _until(condition: Any, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110 - polls another task's progress
            await asyncio.sleep(0.05)


async def test_a_runner_waits_out_a_redis_outage_instead_of_failing(
    catalog: EmbeddedRuntime, own_redis: OwnRedis, client: redis.asyncio.Redis
) -> None:
    await _products(catalog, 3)
    store = RedisProjectionStore(client, "loss")
    head = VersionWatch(await _head(catalog))
    runner = ProjectionRunner(
        RedisCategoryStatsProjection(),
        store,
        catalog.log_reader,
        head,
        retry=RetryPolicy(attempts=2, first_delay=0.01, max_delay=0.05),
        idle_poll=0.1,
    )
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await _until(lambda: _at(runner, head.value))
        own_redis.stop(signal.SIGKILL)
        await _products(catalog, 2)
        head.advance(await _head(catalog))
        await asyncio.sleep(1.0)  # far more than two retries' worth
        assert runner.state is not ProjectionState.FAILED, runner.error
        own_redis.start()
        await _until(lambda: _at(runner, head.value))
        assert await store.checkpoint(runner.name, runner.projection.version) == head.value
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _at(runner: ProjectionRunner, position: int) -> bool:
    return runner.checkpoint.value >= position


async def test_a_wiped_store_refuses_the_next_batch_and_an_idle_check(
    catalog: EmbeddedRuntime, client: redis.asyncio.Redis
) -> None:
    await _products(catalog, 2)
    store = RedisProjectionStore(client, "loss")
    projection = RedisCategoryStatsProjection()
    await store.setup(projection)
    events = await catalog.log_reader.read_after(0, 1000)
    await store.apply(projection, events[:-1])
    await client.flushall()
    with pytest.raises(ReadModelLost):
        await store.verify(projection)
    await store.setup(projection)  # what a restarted runner does: from what is stored
    await store.apply(projection, events[:-1])
    await client.flushall()
    with pytest.raises(ReadModelLost):
        await store.apply(projection, events[-1:])
    assert await store.checkpoint(projection.name, projection.version) == 0


class _Gate:
    """The consistency middleware of an API process over one Redis read model whose
    stored checkpoint the test sets (`stored`), as a wipe or a refold would."""

    def __init__(self, checkpoint: int) -> None:
        self.stored = {"model": checkpoint}

        async def read_checkpoint() -> dict[str, int]:
            return dict(self.stored)

        self.remote = RemoteProjection("model", read_checkpoint, confirm_reads=True)
        self.wait = consistency({"model": self.remote})

    async def read(self, handler: Any) -> Any:
        dispatch = Dispatch(message=None, context={"read_model": "model"}, timeout=0.1)
        return await self.wait(dispatch, handler)


async def _answer(_dispatch: Any) -> str:
    return "answer"


async def _missing(_dispatch: Any) -> str:
    raise NotFound("order", "o-1")


async def test_reads_answer_503_while_the_store_is_behind_what_they_served() -> None:
    gate = _Gate(40)
    await gate.remote.refresh()
    assert await gate.read(_answer) == "answer"
    gate.stored["model"] = 0  # wiped while (or before) the handler read
    with pytest.raises(ReadModelBehind):
        await gate.read(_answer)
    with pytest.raises(ReadModelBehind):  # refused up front until refolded
        await gate.read(_answer)
    gate.stored["model"] = 41
    await gate.remote.refresh()
    assert await gate.read(_answer) == "answer"


async def test_a_not_found_from_a_wiped_store_answers_503() -> None:
    """A product or order read from a store flushed a moment before is missing: that
    is the store behind what it served, not a 404 for something the caller wrote."""
    gate = _Gate(40)
    await gate.remote.refresh()
    with pytest.raises(NotFound):  # the store holds its version: a true 404
        await gate.read(_missing)
    gate.stored["model"] = 0  # flushed before the handler read
    with pytest.raises(ReadModelBehind):
        await gate.read(_missing)


async def test_an_idle_stream_reader_reads_the_log_when_the_stream_stays_quiet(
    catalog: EmbeddedRuntime, tmp_path: Path
) -> None:
    """Nothing is relayed (a consumer that stopped delivering looks the same to the
    reader), yet the log holds events: the reader serves them from the log."""
    import nats

    from tandem.transport.nats.reader import NatsEventReader
    from tandem.transport.nats.stream import ensure_stream

    await _products(catalog, 3)
    with OwnNats(tmp_path / "nats") as server:
        nc = await nats.connect(server.url)
        try:
            await ensure_stream(nc.jsm(), "QUIET", "quiet.events", duplicate_window=120.0)
            reader = NatsEventReader(
                nc,
                stream="QUIET",
                subject_prefix="quiet.events",
                durable="quiet",
                fallback=catalog.log_reader,
                log_check=0.2,
            )
            await reader.start()
            try:
                head = await _head(catalog)
                served: list[Any] = []
                async with asyncio.timeout(10):
                    while not served:
                        served = await reader.read_after(0, 1000)
                        await asyncio.sleep(0.05)
                assert served[-1].position == head
            finally:
                await reader.close()
        finally:
            await nc.close()
