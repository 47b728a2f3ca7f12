"""Blue/green rebuilds of `sync` read models, inside the write database.

A new copy of the read model's tables, their names suffixed with its generation
(`product_detail_g2`, …), is folded from position 0 beside the live one in short write
transactions queued with the commands, which keep committing in between (and keep
applying the projection to the live copy). Once the copy has caught up, one more write
transaction folds the last events, records the copy as live in `tandem_generations` and
moves the projection's checkpoint row to it; right after its COMMIT, still under the
write lock, commands start applying the projection to the copy and queries start
reading it. The old tables are dropped after a grace period. A restart at any point
serves the copy `tandem_generations` names live and drops the others.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3

import orjson

from tandem.eventlog import sqlite as sqlite_log
from tandem.projections import checkpoints
from tandem.projections.base import Projection
from tandem.rebuilds.progress import Rebuild
from tandem.rebuilds.steps import run
from tandem.stores.sqlite import TableNames
from tandem.stores.sqlite_sync import (
    GENERATIONS,
    SyncProjection,
    drop_generation,
    drop_objects,
    generations,
    suffix,
)
from tandem.uow.sqlite import SqliteWriter

SqliteProjection = Projection[sqlite3.Connection]


def next_generation(conn: sqlite3.Connection, name: str) -> int:
    """The generation a new copy of `name` gets (the first is 1, the live one before
    any rebuild)."""
    return max((g.generation for g in generations(conn, name)), default=1) + 1


def storage_name(name: str, generation: int) -> str:
    """How a copy is shown: the projection's name with the generation's suffix."""
    return name + suffix(generation)


async def rebuild(
    writer: SqliteWriter,
    sync: SyncProjection,
    progress: Rebuild,
    generation: int,
    *,
    batch_size: int = 200,
    grace: float = 2.0,
) -> None:
    """Build copy `generation` of `sync`'s read model with the projection's current
    code, switch to it once caught up and drop the old copy (see the module).

    `progress` follows it; a failed or cancelled rebuild drops its copy and leaves the
    live one serving.
    """
    await run(progress, SyncCopy(writer, sync, generation, batch_size), grace=grace)


class SyncCopy:
    """The steps of a rebuild (`tandem.rebuilds.steps`) for a `sync` read model: new
    tables in the write database, each step a write transaction of its own."""

    def __init__(
        self, writer: SqliteWriter, sync: SyncProjection, generation: int, batch_size: int
    ) -> None:
        self._writer = writer
        self._sync = sync
        self._generation = generation
        self._batch_size = batch_size
        self._projection = type(sync.projection)()
        self._names = TableNames.for_copy(self._projection, suffix(generation))
        self._position = 0
        self._retired = 1

    async def create(self) -> None:
        await self._writer.exclusive(
            functools.partial(
                _create,
                name=self._sync.name,
                generation=self._generation,
                projection=self._projection,
                names=self._names,
            )
        )

    async def catch_up(self, progress: Rebuild) -> None:
        writer, sync = self._writer, self._sync
        while True:
            goal = max(writer.head.value, sync.checkpoint.value)
            progress.head = goal
            if self._position >= goal:
                return
            self._position, applied = await writer.exclusive(
                functools.partial(
                    _fold,
                    projection=self._projection,
                    names=self._names,
                    after=self._position,
                    limit=self._batch_size,
                )
            )
            progress.checkpoint, progress.applied = self._position, progress.applied + applied
            await asyncio.sleep(0)  # let the queries queued meanwhile run

    async def switch(self, progress: Rebuild) -> None:
        def switched(done: tuple[int, int]) -> None:
            self._sync.switch(self._projection, self._generation, self._names, done[0])

        self._position, self._retired = await self._writer.exclusive(
            functools.partial(
                _switch,
                projection=self._projection,
                generation=self._generation,
                names=self._names,
                after=self._position,
                limit=self._batch_size,
            ),
            switched,
        )
        progress.checkpoint = self._position

    async def announce(self) -> None:
        """Nothing to tell: one process serves the write database."""

    async def discard(self, error: str | None) -> None:
        await self._writer.exclusive(
            functools.partial(
                drop_generation, name=self._sync.name, generation=self._generation, state="building"
            )
        )

    async def retire(self) -> None:
        # Nothing reads the old copy now (the switch moved queries under the write
        # lock); the grace is a margin all the same. If this fails, the next start
        # drops it.
        await self._writer.exclusive(
            functools.partial(
                drop_generation, name=self._sync.name, generation=self._retired, state="retired"
            )
        )


def _create(
    conn: sqlite3.Connection,
    *,
    name: str,
    generation: int,
    projection: SqliteProjection,
    names: TableNames,
) -> None:
    conn.execute(GENERATIONS)
    drop_objects(conn, names.objects)  # from a copy whose row a crash never wrote
    conn.execute(
        "INSERT INTO tandem_generations (projection, generation, version, state, tables)"
        " VALUES (?, ?, ?, 'building', ?)",
        (name, generation, projection.version, orjson.dumps(names.objects).decode()),
    )
    projection.setup(names.connection(conn))


def _fold(
    conn: sqlite3.Connection,
    *,
    projection: SqliteProjection,
    names: TableNames,
    after: int,
    limit: int,
) -> tuple[int, int]:
    """Apply up to `limit` events after `after` to the copy: (its position, events)."""
    events = sqlite_log.read_after(conn, after, limit)
    checkpoints.apply_handled(names.connection(conn), projection, events)
    return (events[-1].position if events else after), len(events)


def _switch(
    conn: sqlite3.Connection,
    *,
    projection: SqliteProjection,
    generation: int,
    names: TableNames,
    after: int,
    limit: int,
) -> tuple[int, int]:
    """Fold the last events into the copy and make it live: (its position, the
    generation it replaces)."""
    position, applied = after, limit
    while applied:
        position, applied = _fold(
            conn, projection=projection, names=names, after=position, limit=limit
        )
    name = projection.name
    live = [g.generation for g in generations(conn, name) if g.state == "live"]
    conn.execute(
        "UPDATE tandem_generations SET state = 'retired' WHERE projection = ? AND state = 'live'",
        (name,),
    )
    promoted = conn.execute(
        "UPDATE tandem_generations SET state = 'live' WHERE projection = ? AND generation = ?"
        " AND state = 'building'",
        (name, generation),
    ).rowcount
    if promoted != 1:
        raise RuntimeError(f"copy {generation} of {name} is no longer being built")
    checkpoints.save(conn, name, position, projection.version)
    return position, live[0] if live else 1
