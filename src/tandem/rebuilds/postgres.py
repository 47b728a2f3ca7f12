"""The services profile's record of rebuilds: which copy of each read model serves,
and which one is being built, shared by every worker and API process.

A rebuild builds a new *copy* of a read model; copies are numbered, the number being
the copy's *generation*. A copy (its Redis namespace, its PostgreSQL tables, its
checkpoint) is addressed by a storage name and the projection version it was built
with. Copy 1 uses the projection's own name; copy `g` ≥ 2 uses `{name}_g{g}`, so a
rebuild folds a fresh copy beside the live one without touching it.

`tandem_generations` holds one row per copy, in one of these states:

- `live`: the copy reads are served from (one per projection);
- `building`: a copy being folded from position 0 (at most one per projection);
- `retired`: a copy replaced by a newer one, dropped after a grace period;
- `cancelled`, `failed`: a building copy given up, dropped at once.

Rows stay as history once their storage is dropped (`storage_dropped`).

Every change is one conditional statement (or one transaction), so racing workers and
API processes agree: promoting a copy that was cancelled meanwhile changes nothing.
Each change is announced with `NOTIFY tandem_generations`.

A projection whose code declares another version than its live copy was built with
keeps serving that copy as it is (the new code does not run it) while a copy of the new
version is built; see `reconcile`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tandem.errors import TandemError
from tandem.migrations import Component, Migration

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

CHANNEL = "tandem_generations"

MIGRATIONS = Component(
    "tandem_generations",
    [
        Migration(
            1,
            "generations of read models",
            """
            CREATE TABLE tandem_generations (
                projection TEXT NOT NULL,
                generation INT NOT NULL,
                version INT NOT NULL,
                state TEXT NOT NULL,
                requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                switched_at TIMESTAMPTZ,
                error TEXT,
                storage_dropped BOOLEAN NOT NULL DEFAULT false,
                PRIMARY KEY (projection, generation)
            );
            CREATE UNIQUE INDEX tandem_generations_one_live
                ON tandem_generations (projection) WHERE state = 'live';
            CREATE UNIQUE INDEX tandem_generations_one_building
                ON tandem_generations (projection) WHERE state = 'building';
            """,
        )
    ],
)


class CopyState(StrEnum):
    LIVE = "live"
    BUILDING = "building"
    RETIRED = "retired"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RebuildRunning(TandemError):
    """A copy of the projection is being built already."""


@dataclass(frozen=True)
class Copy:
    projection: str
    generation: int
    version: int
    state: CopyState
    requested_at: datetime
    switched_at: datetime | None = None
    error: str | None = None

    @property
    def storage_name(self) -> str:
        return storage_name(self.projection, self.generation)


def storage_name(projection: str, generation: int) -> str:
    """The name a generation's storage is addressed by (the projection's own for the first)."""
    return projection if generation == 1 else f"{projection}_g{generation}"


def copy_of(projection: str, generation: int, version: int = 1) -> Copy:
    """A generation as a value, for addressing its storage outside the registry."""
    from datetime import UTC

    return Copy(projection, generation, version, CopyState.LIVE, datetime.now(UTC))


def _row(row: Any) -> Copy:
    return Copy(
        row["projection"],
        row["generation"],
        row["version"],
        CopyState(row["state"]),
        row["requested_at"],
        row["switched_at"],
        row["error"],
    )


async def load(pool: Pool) -> dict[str, list[Copy]]:
    """Every generation, by projection, oldest first."""
    rows = await pool.fetch("SELECT * FROM tandem_generations ORDER BY projection, generation")
    found: dict[str, list[Copy]] = {}
    for row in rows:
        found.setdefault(row["projection"], []).append(_row(row))
    return found


def live(copies: list[Copy]) -> Copy | None:
    return next((g for g in copies if g.state is CopyState.LIVE), None)


def building(copies: list[Copy]) -> Copy | None:
    return next((g for g in copies if g.state is CopyState.BUILDING), None)


def latest_rebuild(copies: list[Copy]) -> Copy | None:
    """The newest generation after the first: a rebuild running or finished."""
    later = [g for g in copies if g.generation > 1]
    return later[-1] if later else None


async def reconcile(pool: Pool, versions: Mapping[str, int]) -> None:
    """Give every projection a live first generation, and start building a copy of the
    version the code declares when the live one was built with another."""
    async with pool.acquire() as conn, conn.transaction():
        # Racing processes: the first insert of generation 1 wins, the others do nothing.
        await conn.executemany(
            "INSERT INTO tandem_generations (projection, generation, version, state, switched_at)"
            " VALUES ($1, 1, $2, 'live', now()) ON CONFLICT DO NOTHING",
            list(versions.items()),
        )
        stale = await conn.fetch(
            "SELECT l.projection FROM tandem_generations l"
            " JOIN unnest($1::text[], $2::int[]) AS code(projection, version)"
            "   ON code.projection = l.projection"
            " WHERE l.state = 'live' AND l.version <> code.version AND NOT EXISTS"
            " (SELECT 1 FROM tandem_generations b WHERE b.projection = l.projection"
            "  AND b.state IN ('building', 'failed') AND b.version = code.version)",
            list(versions),
            list(versions.values()),
        )
    for row in stale:
        name = row["projection"]
        try:
            await request(pool, name, versions[name])
        except RebuildRunning:
            being_built = building((await load(pool)).get(name, []))
            if being_built is None or being_built.version == versions[name]:
                continue  # another process started the same rebuild meanwhile
            # A copy of another version is being built: replace it with this one.
            await cancel(pool, name)
            with contextlib.suppress(RebuildRunning):
                await request(pool, name, versions[name])


async def request(pool: Pool, projection: str, version: int) -> Copy:
    """Start building a new generation of `projection` (refused while one is built)."""
    import asyncpg

    try:
        row = await pool.fetchrow(
            "INSERT INTO tandem_generations (projection, generation, version, state)"
            " SELECT $1, coalesce(max(generation), 0) + 1, $2, 'building'"
            " FROM tandem_generations WHERE projection = $1 RETURNING *",
            projection,
            version,
        )
    except asyncpg.UniqueViolationError:
        raise RebuildRunning(f"{projection} is being rebuilt already") from None
    assert row is not None
    await _announce(pool, projection)
    return _row(row)


async def cancel(pool: Pool, projection: str) -> Copy | None:
    """Give up the copy being built (its storage is dropped by the keeper)."""
    row = await pool.fetchrow(
        "UPDATE tandem_generations SET state = 'cancelled', switched_at = now()"
        " WHERE projection = $1 AND state = 'building' RETURNING *",
        projection,
    )
    if row is None:
        return None
    await _announce(pool, projection)
    return _row(row)


async def fail(pool: Pool, projection: str, generation: int, error: str) -> None:
    await pool.execute(
        "UPDATE tandem_generations SET state = 'failed', error = $3, switched_at = now()"
        " WHERE projection = $1 AND generation = $2 AND state = 'building'",
        projection,
        generation,
        error,
    )
    await _announce(pool, projection)


async def promote(pool: Pool, projection: str, generation: int) -> bool:
    """Make a built copy live and retire the old one, in one transaction; False when
    the copy is no longer being built (cancelled, or promoted by someone else)."""
    async with pool.acquire() as conn, conn.transaction():
        still = await conn.fetchval(
            "SELECT 1 FROM tandem_generations WHERE projection = $1 AND generation = $2"
            " AND state = 'building' FOR UPDATE",
            projection,
            generation,
        )
        if still is None:
            return False
        await conn.execute(
            "UPDATE tandem_generations SET state = 'retired', switched_at = now()"
            " WHERE projection = $1 AND state = 'live'",
            projection,
        )
        await conn.execute(
            "UPDATE tandem_generations SET state = 'live', switched_at = now()"
            " WHERE projection = $1 AND generation = $2",
            projection,
            generation,
        )
    await _announce(pool, projection)
    return True


async def to_drop(pool: Pool, grace: float) -> list[Copy]:
    """Copies whose storage can go: given up ones at once, retired ones after `grace`."""
    rows = await pool.fetch(
        "SELECT * FROM tandem_generations WHERE NOT storage_dropped"
        " AND (state IN ('cancelled', 'failed')"
        " OR (state = 'retired' AND switched_at < now() - make_interval(secs => $1)))",
        grace,
    )
    return [_row(row) for row in rows]


async def dropped(pool: Pool, projection: str, generation: int) -> None:
    await pool.execute(
        "UPDATE tandem_generations SET storage_dropped = true"
        " WHERE projection = $1 AND generation = $2",
        projection,
        generation,
    )


async def _announce(pool: Pool, projection: str) -> None:
    await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, projection)
