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
import contextlib
import functools
import logging
import sqlite3
import time

import orjson

from tandem.eventlog import sqlite as sqlite_log
from tandem.projections import checkpoints
from tandem.projections.base import Projection
from tandem.projections.sync import (
    GENERATIONS,
    SyncProjection,
    drop_generation,
    drop_objects,
    generations,
    suffix,
)
from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.stores.sqlite import TableNames
from tandem.uow.sqlite import SqliteWriter

log = logging.getLogger("tandem.projections")

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
    name = sync.name
    projection = type(sync.projection)()
    names = TableNames.for_copy(projection, suffix(generation))
    try:
        await writer.exclusive(
            functools.partial(
                _create, name=name, generation=generation, projection=projection, names=names
            )
        )
        position = 0
        while True:
            goal = max(writer.head.value, sync.checkpoint.value)
            progress.head = goal
            if position >= goal:
                break
            position, applied = await writer.exclusive(
                functools.partial(
                    _fold, projection=projection, names=names, after=position, limit=batch_size
                )
            )
            progress.checkpoint, progress.applied = position, progress.applied + applied
            await asyncio.sleep(0)  # let the queries queued meanwhile run

        def switched(done: tuple[int, int]) -> None:
            sync.switch(projection, generation, names, done[0])

        position, retired = await writer.exclusive(
            functools.partial(
                _switch,
                projection=projection,
                generation=generation,
                names=names,
                after=position,
                limit=batch_size,
            ),
            switched,
        )
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await writer.exclusive(
                functools.partial(
                    drop_generation, name=name, generation=generation, state="building"
                )
            )
        progress.finished = time.monotonic()
        if isinstance(exc, asyncio.CancelledError):
            progress.state = RebuildState.CANCELLED
            raise
        progress.state, progress.error = RebuildState.FAILED, f"{type(exc).__name__}: {exc}"
        log.warning("rebuild of %s failed: %s", name, progress.error)
        return
    progress.state, progress.checkpoint = RebuildState.SWITCHED, position
    progress.head, progress.finished = max(progress.head, position), time.monotonic()
    log.info("rebuild of %s switched to %s at %s", name, progress.target, position)
    try:
        await asyncio.sleep(grace)  # nothing reads the old copy now; a margin all the same
    finally:  # also when stopped meanwhile; if this fails, the next start drops it
        try:
            await writer.exclusive(
                functools.partial(drop_generation, name=name, generation=retired, state="retired")
            )
        except Exception as exc:
            log.warning("dropping copy %s of %s failed: %s", retired, name, exc)


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
    tx = names.connection(conn)
    wanted = projection.event_types
    for event in events:
        if event.type in wanted:
            projection.apply(tx, event)
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
