"""The projection-store contract, run against every projection store in this repository.

Each backend brings its own counting projection (a table, or two Redis hashes) and a way
to open a second store object on the same data, as a second worker process would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster

from tandem.db.postgres import Connection, Pool, create_pool
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection, Projection
from tandem.stores.duckdb import DuckDBProjectionStore, DuckDBTransaction
from tandem.stores.postgres import CheckpointVersionMismatch, PostgresProjectionStore
from tandem.stores.redis import (
    CHECKPOINT_KEY,
    CheckpointMoved,
    RedisClient,
    RedisProjectionStore,
    RedisTx,
    as_bytes,
    connect,
)
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.testing.stores import (
    COUNTED,
    COUNTING_PROJECTION,
    Counts,
    InjectedFailure,
    ProjectionStoreContract,
    expected_counts,
    fail_if_chosen,
    make_events,
    opened,
)
from tests.support.redis_cluster import OwnRedisCluster
from tests.support.services import REDIS_URL, PostgresDatabase, redis_prefix

COUNTS_TABLE = """
CREATE TABLE IF NOT EXISTS contract_counts (
    aggregate_id TEXT PRIMARY KEY,
    applied BIGINT NOT NULL,
    last_position BIGINT NOT NULL
)
"""
COUNT_EVENT = """
INSERT INTO contract_counts (aggregate_id, applied, last_position) VALUES (?, 1, ?)
ON CONFLICT (aggregate_id) DO UPDATE
SET applied = contract_counts.applied + 1, last_position = excluded.last_position
"""
READ_COUNTS = "SELECT aggregate_id, applied, last_position FROM contract_counts"


def as_counts(rows: list[tuple[str, int, int]]) -> Counts:
    return {aggregate: (int(applied), int(last)) for aggregate, applied, last in rows}


# -- SQLite -----------------------------------------------------------------------------


class SqliteCounting(Projection[sqlite3.Connection]):
    name = COUNTING_PROJECTION
    event_types = frozenset({COUNTED})

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute(COUNTS_TABLE)

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        tx.execute(COUNT_EVENT, (event.aggregate_id, event.position))
        fail_if_chosen(event, self.fail_at)


class SqliteBackend:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def open_store(self) -> SqliteProjectionStore:
        return SqliteProjectionStore(self.path)

    async def close_store(self, store: SqliteProjectionStore) -> None:
        store.close()

    def projection(self, *, fail_at: int | None = None) -> SqliteCounting:
        return SqliteCounting(fail_at)

    async def counts(self, store: SqliteProjectionStore) -> Counts:
        return as_counts(await store.db.run(lambda c: [tuple(r) for r in c.execute(READ_COUNTS)]))


class TestSqliteProjectionStore(
    ProjectionStoreContract[SqliteProjectionStore, Projection[sqlite3.Connection]]
):
    @pytest.fixture
    def store_backend(self, tmp_path: Path) -> SqliteBackend:
        return SqliteBackend(tmp_path / "read.db")


# -- DuckDB -----------------------------------------------------------------------------


class DuckDBCounting(Projection[DuckDBTransaction]):
    name = COUNTING_PROJECTION
    event_types = frozenset({COUNTED})

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at

    def setup(self, tx: DuckDBTransaction) -> None:
        tx.execute(COUNTS_TABLE)

    def apply(self, tx: DuckDBTransaction, event: StoredEvent) -> None:
        tx.execute(COUNT_EVENT, (event.aggregate_id, event.position))
        fail_if_chosen(event, self.fail_at)


class DuckDBBackend:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def open_store(self) -> DuckDBProjectionStore:
        return DuckDBProjectionStore(self.path, read_threads=1)

    async def close_store(self, store: DuckDBProjectionStore) -> None:
        store.close()

    def projection(self, *, fail_at: int | None = None) -> DuckDBCounting:
        return DuckDBCounting(fail_at)

    async def counts(self, store: DuckDBProjectionStore) -> Counts:
        return as_counts(await store.run(lambda c: c.execute(READ_COUNTS).fetchall()))


class TestDuckDBProjectionStore(
    ProjectionStoreContract[DuckDBProjectionStore, Projection[DuckDBTransaction]]
):
    # Two store objects on one file share DuckDB's database instance, whose optimistic
    # concurrency control aborts the second writer of the checkpoint row: a conflicting
    # update is a TransactionException, a conflicting first insert of the row a
    # ConstraintException. Either way the store rolls the whole batch back.
    concurrent_refusals = (duckdb.TransactionException, duckdb.ConstraintException)

    @pytest.fixture
    def store_backend(self, tmp_path: Path) -> DuckDBBackend:
        return DuckDBBackend(tmp_path / "read.duckdb")


# -- Redis ------------------------------------------------------------------------------


class RedisCounting(AsyncProjection[RedisTx]):
    name = COUNTING_PROJECTION
    event_types = frozenset({COUNTED})

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at

    async def setup(self, tx: RedisTx) -> None:
        pass

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        tx.hincrby("applied", event.aggregate_id, 1)
        tx.hset("last", {event.aggregate_id: event.position})
        fail_if_chosen(event, self.fail_at)


class RedisBackend:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def open_store(self) -> RedisProjectionStore:
        return RedisProjectionStore(self.client, self.prefix)

    async def close_store(self, store: RedisProjectionStore) -> None:
        pass  # the client is the fixture's

    def projection(self, *, fail_at: int | None = None) -> RedisCounting:
        return RedisCounting(fail_at)

    async def counts(self, store: RedisProjectionStore) -> Counts:
        projection = self.projection()
        applied = await self.client.hgetall(store.key(projection, "applied"))
        last = await self.client.hgetall(store.key(projection, "last"))
        return {as_bytes(k).decode(): (int(v), int(last[k])) for k, v in applied.items()}


async def delete_prefix(client: RedisClient, prefix: str) -> None:
    """Delete this test's keys, and only them."""
    async for key in client.scan_iter(match=f"{prefix}:*", count=500):
        await client.delete(key)


@pytest.mark.services
class TestRedisProjectionStore(ProjectionStoreContract[RedisProjectionStore, RedisCounting]):
    concurrent_refusals = (CheckpointMoved,)

    @pytest.fixture
    async def store_backend(self) -> AsyncIterator[RedisBackend]:
        prefix = redis_prefix()
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            yield RedisBackend(client, prefix)
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()


@pytest.mark.services
class TestRedisClusterProjectionStore(TestRedisProjectionStore):
    """The same contract on a Redis Cluster: every key of a projection in one hash slot."""

    @pytest.fixture
    async def store_backend(self, redis_cluster: OwnRedisCluster) -> AsyncIterator[RedisBackend]:
        prefix = redis_prefix()
        client = connect(redis_cluster.url)
        try:
            yield RedisBackend(client, prefix)
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()

    async def test_each_projection_keeps_its_keys_in_one_slot_and_parts_spread(
        self, store_backend: RedisBackend
    ) -> None:
        store = await store_backend.open_store()
        client = store_backend.client
        assert isinstance(client, RedisCluster)
        parts = [(f"{COUNTING_PROJECTION}.p{i}", 1) for i in range(6)]
        for i, (name, version) in enumerate(parts):
            await client.set(store.namespace_of(name, version) + CHECKPOINT_KEY, 10 + i)
        slots = [
            {client.keyslot(store.namespace_of(name, version) + key) for key in KEYS}
            for name, version in parts
        ]
        assert all(len(slot) == 1 for slot in slots)
        assert len(set.union(*slots)) > 1, "the parts should not share one slot"
        # One read of checkpoints in different slots (one MGET per slot).
        assert await store.checkpoints(parts) == [10 + i for i in range(len(parts))]


# Keys a counting projection's batch touches, its checkpoint among them.
KEYS = ("applied", "last", CHECKPOINT_KEY)


# -- PostgreSQL read database -----------------------------------------------------------


class PostgresCounting(AsyncProjection[Connection]):
    name = COUNTING_PROJECTION
    event_types = frozenset({COUNTED})

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at

    async def setup(self, tx: Connection) -> None:
        await tx.execute(COUNTS_TABLE)

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await tx.execute(
            COUNT_EVENT.replace("?", "$1", 1).replace("?", "$2", 1),
            event.aggregate_id,
            event.position,
        )
        fail_if_chosen(event, self.fail_at)


class PostgresBackend:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def open_store(self) -> PostgresProjectionStore:
        return PostgresProjectionStore(self.pool)

    async def close_store(self, store: PostgresProjectionStore) -> None:
        await store.close()  # leaves the fixture's pool open

    def projection(self, *, fail_at: int | None = None) -> PostgresCounting:
        return PostgresCounting(fail_at)

    async def counts(self, store: PostgresProjectionStore) -> Counts:
        return as_counts([tuple(r) for r in await store.pool.fetch(READ_COUNTS)])


@pytest.mark.services
class TestPostgresProjectionStore(
    ProjectionStoreContract[PostgresProjectionStore, PostgresCounting]
):
    @pytest.fixture
    async def store_backend(self, pg_database: PostgresDatabase) -> AsyncIterator[PostgresBackend]:
        pool = await create_pool(pg_database.url, min_size=1, max_size=4)
        try:
            yield PostgresBackend(pool)
        finally:
            await pool.close()

    async def test_a_store_expecting_a_checkpoint_another_moved_applies_only_past_it(
        self, store_backend: PostgresBackend
    ) -> None:
        """A store's round starts from the checkpoint it last left. Another store (a
        worker that took over) moved it meanwhile: the round must see the stored one
        before applying anything, and apply only what lies past it."""
        events = make_events(20)
        async with opened(store_backend) as first, opened(store_backend) as second:
            projection = store_backend.projection()
            await first.setup(projection)
            await second.setup(projection)
            assert await first.apply(projection, events[:5]) == events[4].position
            assert await second.apply(projection, events[:12]) == events[11].position
            assert await first.apply(projection, events[5:16]) == events[15].position
            assert await store_backend.counts(first) == expected_counts(events[:16])
            # And the other way round, the second now expecting the first's old place.
            assert await second.apply(projection, events[12:]) == events[-1].position
            assert await store_backend.counts(first) == expected_counts(events)

    async def test_a_version_changed_under_a_store_is_refused_before_anything_applies(
        self, store_backend: PostgresBackend
    ) -> None:
        events = make_events(10)
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            await store.apply(projection, events[:4])
            await store.pool.execute(
                "UPDATE tandem_checkpoints SET version = version + 1 WHERE name = $1",
                projection.name,
            )
            with pytest.raises(CheckpointVersionMismatch):
                await store.apply(projection, events[4:])
            assert await store_backend.counts(store) == expected_counts(events[:4])

    async def test_a_round_from_a_known_checkpoint_is_three_messages_and_ends_its_transaction(
        self, pg_database: PostgresDatabase
    ) -> None:
        """BEGIN travels with the row lock and the checkpoint's UPDATE with the COMMIT:
        the fold's one statement between them. A failing round leaves no transaction open
        on the pooled connection."""
        pool = await create_pool(pg_database.url, min_size=1, max_size=1)
        sent: list[str] = []
        try:
            async with pool.acquire() as conn:
                conn.add_query_logger(lambda record: sent.append(record.query))
            store = PostgresProjectionStore(pool)
            events = make_events(12)
            projection = PostgresCounting()
            await store.setup(projection)
            await store.apply(projection, events[:4])
            sent.clear()
            assert await store.apply(projection, events[4:5]) == events[4].position
            assert events[4].type == COUNTED
            assert [q.split()[0] for q in sent] == ["BEGIN;", "INSERT", "UPDATE"], sent
            assert sent[-1].rstrip().endswith("COMMIT")
            failing = PostgresCounting(fail_at=events[6].position)
            with pytest.raises(InjectedFailure):
                await store.apply(failing, events[5:8])
            async with pool.acquire() as conn:
                assert not conn.is_in_transaction()
                stored = await conn.fetchval(
                    "SELECT position FROM tandem_checkpoints WHERE name = $1", projection.name
                )
            assert stored == events[4].position
            assert await store.apply(projection, events[5:]) == events[-1].position
            rows = [tuple(r) for r in await pool.fetch(READ_COUNTS)]
            assert as_counts(rows) == expected_counts(events)
        finally:
            await pool.close()

    async def test_a_name_that_cannot_be_spelled_into_sql_takes_the_locking_round(
        self, store_backend: PostgresBackend
    ) -> None:
        """The three-message round spells the name in as a literal; a name with a quote
        in it must never reach that SQL, and its rounds stay exactly-once."""

        class Quoted(PostgresCounting):
            name = "contract's counts"

        events = make_events(12)
        async with opened(store_backend) as store:
            projection = Quoted()
            await store.setup(projection)
            for start in range(0, len(events), 4):
                batch = events[start : start + 4]
                assert await store.apply(projection, batch) == batch[-1].position
            assert await store.apply(projection, events[6:]) == events[-1].position
            assert await store_backend.counts(store) == expected_counts(events)
