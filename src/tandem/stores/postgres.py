"""Projections on a PostgreSQL read database: read-model change and checkpoint in one transaction.

`apply` runs one transaction per batch: it locks the projection's row in
`tandem_checkpoints` (`SELECT … FOR UPDATE`, creating the row first if it is missing),
applies only the events past the stored position, writes the new position and commits.
A redelivered or overlapping batch therefore has no second effect, and two processes
applying the same projection at once take turns on the row lock: the second one sees
the first one's checkpoint and skips what it already applied. A projection with
`apply_batch` (`tandem.projections.checkpoints.BatchApplying`) gets the batch's events
in one call, to read and write them in a few statements instead of a few per event.

Table names. A projection names its own tables; by convention they start with
`table_prefix(projection)`, `<name>_v<version>` (for example `product_search_v1_products`),
so a new version of a projection can be built beside the live one. The checkpoint row is
keyed by the projection's name alone (that is what readers and `/status` ask for) and
records the version whose tables it describes. The store refuses to apply a projection
whose version differs from its row's (`CheckpointVersionMismatch`): the new version's
tables start empty, and continuing from the old version's position would silently leave
out every earlier event. A blue/green rebuild therefore folds the new version from
position 0 under a staging row and, once caught up, moves that row's position and
version onto the live name in one transaction; readers switch tables with the version.

asyncpg is imported lazily (only `connect` and `checkpoint` need it at run time), so
nothing on the embedded profile pays for, or needs, the PostgreSQL driver.

    store = await PostgresProjectionStore.connect("postgresql://…/tandem_read")
    await store.setup(projection)              # tables, and the stored checkpoint
    await store.apply(projection, events)      # the new checkpoint
    await store.checkpoint(projection.name)    # from an API process
    await store.close()
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tandem.errors import ReadModelNotReady, TandemError
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.checkpoints import fold_again, fold_past

if TYPE_CHECKING:
    from tandem.db.postgres import Connection, Pool

# A pooled connection or a plain one: projections only run statements on it.
PostgresProjection = AsyncProjection["Connection"]

CHECKPOINT_TABLE = """
CREATE TABLE IF NOT EXISTS tandem_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    version INTEGER NOT NULL
)
"""

# Concurrent `CREATE TABLE IF NOT EXISTS` (or `CREATE EXTENSION`) of the same name can
# still collide in the catalog, so every setup of every projection takes this lock.
_SETUP_LOCK = 0x74616E64656D01  # "tandem" + 1: distinct from the migrations' lock

_LOCK_ROW = """
SELECT position, version FROM tandem_checkpoints WHERE name = $1 FOR UPDATE
"""
_CREATE_ROW = """
INSERT INTO tandem_checkpoints (name, position, version) VALUES ($1, 0, $2)
ON CONFLICT (name) DO NOTHING
"""


# Names `_advance_from` may spell into its SQL as literals; any other name takes the
# parameterized round.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


class CheckpointVersionMismatch(TandemError):
    """The stored checkpoint belongs to another version of the projection's tables."""

    def __init__(self, projection: str, stored: int, wanted: int) -> None:
        super().__init__(
            f"checkpoint of {projection} describes version {stored}, not {wanted}:"
            " rebuild the new version from position 0"
        )
        self.projection = projection
        self.stored = stored
        self.wanted = wanted


@contextlib.contextmanager
def tables_ready(projection: str) -> Iterator[None]:
    """Around a read model's queries: a table not created yet (the workers have not set
    the projection up, as right after a deployment starts) is `ReadModelNotReady`, a
    read model behind, rather than the driver's error."""
    import asyncpg

    try:
        yield
    except asyncpg.UndefinedTableError as exc:
        raise ReadModelNotReady(projection) from exc


def table_prefix(projection: PostgresProjection | type[PostgresProjection]) -> str:
    """`<name>_v<version>`: how a projection's table names start, version included."""
    return f"{projection.name}_v{projection.version}"


async def _lock_checkpoint(conn: Connection, projection: PostgresProjection) -> int:
    """Lock the projection's checkpoint row for this transaction and return its position.

    The row is created first if missing; a concurrent creator makes the INSERT wait for
    its commit and then do nothing, so both end up locking the same row.
    """
    row = await conn.fetchrow(_LOCK_ROW, projection.name)
    if row is None:
        await conn.execute(_CREATE_ROW, projection.name, projection.version)
        row = await conn.fetchrow(_LOCK_ROW, projection.name)
        assert row is not None, "the row exists: created now, or by a committed concurrent creator"
    if row["version"] != projection.version:
        raise CheckpointVersionMismatch(projection.name, row["version"], projection.version)
    return int(row["position"])


async def apply_past(
    conn: Connection, projection: PostgresProjection, events: list[StoredEvent]
) -> int:
    """Apply the events past the locked checkpoint and store the new one, in the caller's
    open transaction; returns the checkpoint.

    Events the projection does not handle still move the checkpoint.
    """
    checkpoint = await _lock_checkpoint(conn, projection)
    last = await fold_past(conn, projection, events, checkpoint)
    if last > checkpoint:
        await conn.execute(
            "UPDATE tandem_checkpoints SET position = $2, version = $3 WHERE name = $1",
            projection.name,
            last,
            projection.version,
        )
    return last


async def _advance_from(
    conn: Connection, projection: PostgresProjection, events: list[StoredEvent], expected: int
) -> int | None:
    """`apply_past` in a transaction of its own, for a checkpoint expected at `expected`:
    the new checkpoint, or None (nothing done) if the stored one is elsewhere or the
    name cannot be spelled in.

    The same row lock, taken first, and the same statements; but BEGIN travels with the
    lock and the checkpoint's UPDATE with the COMMIT, as one simple-protocol message
    each (which takes no parameters: the name, if `_PLAIN_NAME` allows it, and the
    numbers are spelled in). The lock's statement matches only the row at `expected` and the
    projection's version, so a checkpoint another process moved (a takeover), or a
    version changed under the store, is seen before anything is applied.
    """
    if not _PLAIN_NAME.fullmatch(projection.name):
        return None
    name = f"'{projection.name}'"
    locked = await conn.execute(
        f"BEGIN; SELECT FROM tandem_checkpoints WHERE name = {name}"
        f" AND position = {int(expected)} AND version = {int(projection.version)} FOR UPDATE"
    )
    try:
        if locked != "SELECT 1":
            await conn.execute("ROLLBACK")
            return None
        last = await fold_past(conn, projection, events, expected)
        if last > expected:
            await conn.execute(
                f"UPDATE tandem_checkpoints SET position = {int(last)} WHERE name = {name}; COMMIT"
            )
        else:
            await conn.execute("COMMIT")
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
        raise
    return last


class PostgresProjectionStore:
    """A PostgreSQL read database holding read models and their checkpoints.

    Built on an asyncpg pool the caller owns (`PostgresProjectionStore(pool)`), or on
    one it opens itself (`await PostgresProjectionStore.connect(dsn)`), which `close`
    then closes. Queries of the read models use `pool` directly.
    """

    kind = "postgres"

    def __init__(self, pool: Pool, *, owns_pool: bool = False) -> None:
        self.pool = pool
        self._owns_pool = owns_pool
        # Per projection, the (position, version) this store last committed or read
        # under the row lock: where its next round expects to find the checkpoint.
        self._expected: dict[str, tuple[int, int]] = {}

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 4
    ) -> PostgresProjectionStore:
        """Open a pool on `dsn` (see `tandem.db.postgres.create_pool`) that `close` closes."""
        from tandem.db.postgres import create_pool

        return cls(await create_pool(dsn, min_size=min_size, max_size=max_size), owns_pool=True)

    async def setup(self, projection: PostgresProjection) -> int:
        """Create the checkpoint table and the projection's tables (idempotent) and return
        the stored checkpoint (0 for a new projection)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SETUP_LOCK)
            await conn.execute(CHECKPOINT_TABLE)
            await projection.setup(conn)
            return await _lock_checkpoint(conn, projection)

    async def apply(self, projection: PostgresProjection, events: list[StoredEvent]) -> int:
        """Apply the events after the stored checkpoint in one transaction; returns the new
        checkpoint. Safe to call again with the same or overlapping events, and from
        several processes at once.

        Where the store knows the checkpoint it last left (the common round of a
        runner), the transaction takes two round trips fewer (`_advance_from`); where
        the checkpoint is not what it expects, it takes the round of `apply_past`."""
        name = projection.name
        async with self.pool.acquire() as conn:
            expected = self._expected.pop(name, None)
            if expected is not None and expected[1] == projection.version:
                last = await _advance_from(conn, projection, events, expected[0])
                if last is not None:
                    self._expected[name] = (last, projection.version)
                    return last
            async with conn.transaction():
                last = await apply_past(conn, projection, events)
            self._expected[name] = (last, projection.version)
            return last

    async def apply_parked(self, projection: PostgresProjection, events: list[StoredEvent]) -> None:
        """Apply parked events again in one transaction, holding the checkpoint row (so
        the projection's runner waits) without moving it."""
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_checkpoint(conn, projection)
            await fold_again(conn, projection, events)

    async def settle(self, projection: PostgresProjection) -> list[str]:
        """Merge the pending entries of the projection's GIN indexes into them, and
        refresh the planner's statistics of its tables (`ANALYZE`); the tables analyzed.

        After a catch-up the statistics still describe the empty tables of the setup, and
        the planner picks plans for a few rows (nested loops over thousands); and a GIN
        index keeps up to 4 MB of new entries in a pending list that every scan reads in
        full. Autovacuum, where it runs at all, fixes both only a minute or more later.
        Runners call this as they turn live after many events
        (`ProjectionRunner.settle_after`). A GIN index is not given a smaller pending
        list instead: catching up would then merge every few dozen rows, and fold
        less than half as fast.
        """
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND starts_with(tablename, $1) ORDER BY tablename",
                table_prefix(projection) + "_",
            )
            names = [str(row[0]) for row in rows]
            if names:
                await conn.execute(
                    "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i"
                    " JOIN pg_class x ON x.oid = i.indexrelid"
                    " JOIN pg_am a ON a.oid = x.relam AND a.amname = 'gin'"
                    " WHERE i.indrelid = ANY($1::regclass[])",
                    [f'"{name}"' for name in names],
                )
                await conn.execute("ANALYZE " + ", ".join(f'"{name}"' for name in names))
        return names

    async def checkpoint(self, name: str) -> int:
        """The stored checkpoint of the projection called `name` (0 if it has none yet,
        even before any store has created the checkpoint table)."""
        import asyncpg

        try:
            position = await self.pool.fetchval(
                "SELECT position FROM tandem_checkpoints WHERE name = $1", name
            )
        except asyncpg.UndefinedTableError:
            return 0
        return 0 if position is None else int(position)

    async def close(self) -> None:
        """Close the pool if this store opened it; a caller's pool stays open."""
        if self._owns_pool:
            await self.pool.close()


async def forget_checkpoint(conn: Connection, name: str) -> None:
    """Delete the checkpoint of `name` (a copy whose tables are dropped), if the store
    has ever held one."""
    if await conn.fetchval("SELECT to_regclass('tandem_checkpoints')") is not None:
        await conn.execute("DELETE FROM tandem_checkpoints WHERE name = $1", name)
