"""Which stored copy a generation is, and how its storage is dropped.

A generation of a projection is the projection class under the generation's storage
name and version (`tandem.rebuilds.postgres.storage_name`): the stores address keys, tables
and checkpoints by those two attributes, so the same code folds a second copy beside
the first without touching it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from tandem.rebuilds.postgres import Copy
from tandem.stores.postgres import forget_checkpoint

if TYPE_CHECKING:
    from tandem.db.postgres import Pool
    from tandem.stores.redis import RedisClient

log = logging.getLogger("catalog.rebuilds")

P = TypeVar("P", bound=type[Any])

# UNLINK this many keys per call while dropping a namespace.
_DROP_BATCH = 1000


def stored_class(projection: P, generation: Copy | None) -> P:
    """`projection` as stored by `generation` (itself for the first copy of its version)."""
    if generation is None:
        return projection
    name, version = generation.storage_name, generation.version
    if name == projection.name and version == projection.version:
        return projection
    stored: P = type(  # type: ignore[assignment]
        f"{projection.__name__}G{generation.generation}",
        (projection,),
        {"name": name, "version": version},
    )
    return stored


async def drop_namespace(client: RedisClient, namespace: str) -> int:
    """Delete every key under `namespace` (SCAN, then UNLINK in batches; on a Redis
    Cluster the SCAN visits every master)."""
    dropped = 0
    batch: list[Any] = []
    async for key in client.scan_iter(match=_glob_escape(namespace) + "*", count=_DROP_BATCH):
        batch.append(key)
        if len(batch) >= _DROP_BATCH:
            dropped += await client.unlink(*batch)
            batch.clear()
    if batch:
        dropped += await client.unlink(*batch)
    return dropped


async def drop_tables(pool: Pool, prefix: str, checkpoint_name: str) -> list[str]:
    """Drop every table whose name starts with `{prefix}_`, and the copy's checkpoint row."""
    async with pool.acquire() as conn, conn.transaction():
        tables = [
            str(row["tablename"])
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND left(tablename, length($1) + 1) = $1 || '_'",
                prefix,
            )
        ]
        for table in tables:
            await conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        await forget_checkpoint(conn, checkpoint_name)
    return tables


def _glob_escape(text: str) -> str:
    """`text` matched literally by a Redis glob pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
