"""Dead letters: events a projection parked instead of stopping on them.

A projection whose policy is `park` retries a failing event with backoff and then
parks it here and goes on; later events of the same aggregate are parked behind it, so
each aggregate's events still apply in order. After a fix, `retry` applies an
aggregate's parked events again, in position order, through the store's
`apply_parked` (the checkpoint already lies past them) and removes them; `skip` drops
one without applying it.

A letter is written before the checkpoint moves past its event. If the process dies in
between, the runner meets the event again on restart, and `forget_after(checkpoint)`
first drops letters the checkpoint never passed, so nothing stays parked twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tandem.db.sqlite import SqliteDatabase, transaction
from tandem.messages import StoredEvent
from tandem.migrations import Component, Migration
from tandem.transport.wire import decode, encode

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

# The type a parked event takes on its way past the checkpoint: no projection handles it.
PARKED = "tandem.parked"


@dataclass(frozen=True)
class DeadLetter:
    projection: str
    position: int
    aggregate_id: str
    event: StoredEvent
    error: str
    parked_at: float


class DeadLetters(Protocol):
    async def park(self, projection: str, event: StoredEvent, error: str) -> None: ...

    async def list(self, projection: str | None = None) -> list[DeadLetter]: ...

    async def parked_aggregates(self, projection: str) -> set[str]: ...

    async def remove(self, projection: str, positions: Sequence[int]) -> None: ...

    async def forget_after(self, projection: str, checkpoint: int) -> None: ...

    async def counts(self) -> dict[str, int]:
        """Letters per projection (or partition) name."""
        ...


class ParkingStore(Protocol):
    async def apply_parked(self, projection: Any, events: list[StoredEvent]) -> None: ...


async def retry(
    letters: DeadLetters, store: ParkingStore, projection: Any, aggregate_id: str
) -> int:
    """Apply the aggregate's parked events again, in order, then forget them; returns how
    many. A failure leaves every letter in place (the store applies them in one
    transaction)."""
    parked = [
        letter
        for letter in await letters.list(projection.name)
        if letter.aggregate_id == aggregate_id
    ]
    if parked:
        await store.apply_parked(projection, [letter.event for letter in parked])
        await letters.remove(projection.name, [letter.position for letter in parked])
    return len(parked)


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tandem_dead_letters (
    projection TEXT NOT NULL,
    position INTEGER NOT NULL,
    aggregate_id TEXT NOT NULL,
    event BLOB NOT NULL,
    error TEXT NOT NULL,
    parked_at REAL NOT NULL,
    PRIMARY KEY (projection, position)
)
"""


def _letter(row: Sequence[Any]) -> DeadLetter:
    return DeadLetter(
        str(row[0]), int(row[1]), str(row[2]), decode(bytes(row[3])), str(row[4]), float(row[5])
    )


class SqliteDeadLetters:
    """Dead letters of the embedded profile, in a SQLite file of their own."""

    def __init__(self, path: str | Path) -> None:
        self.db = SqliteDatabase(path)
        self.db.call(lambda c: c.execute(_SQLITE_SCHEMA))

    async def park(self, projection: str, event: StoredEvent, error: str) -> None:
        def write(conn: Any) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO tandem_dead_letters VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        projection,
                        event.position,
                        event.aggregate_id,
                        encode(event),
                        error,
                        time.time(),
                    ),
                )

        await self.db.run(write)

    async def list(self, projection: str | None = None) -> list[DeadLetter]:
        sql = "SELECT * FROM tandem_dead_letters"
        args: tuple[Any, ...] = ()
        if projection is not None:
            sql, args = sql + " WHERE projection = ?", (projection,)
        rows = await self.db.run(lambda c: c.execute(sql + " ORDER BY position", args).fetchall())
        return [_letter(row) for row in rows]

    async def parked_aggregates(self, projection: str) -> set[str]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT DISTINCT aggregate_id FROM tandem_dead_letters WHERE projection = ?",
                (projection,),
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

    async def remove(self, projection: str, positions: Sequence[int]) -> None:
        def delete(conn: Any) -> None:
            with transaction(conn):
                conn.executemany(
                    "DELETE FROM tandem_dead_letters WHERE projection = ? AND position = ?",
                    [(projection, p) for p in positions],
                )

        await self.db.run(delete)

    async def forget_after(self, projection: str, checkpoint: int) -> None:
        def delete(conn: Any) -> None:
            with transaction(conn):
                conn.execute(
                    "DELETE FROM tandem_dead_letters WHERE projection = ? AND position > ?",
                    (projection, checkpoint),
                )

        await self.db.run(delete)

    async def counts(self) -> dict[str, int]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT projection, count(*) FROM tandem_dead_letters GROUP BY projection"
            ).fetchall()
        )
        return {str(row[0]): int(row[1]) for row in rows}

    def close(self) -> None:
        self.db.close()


MIGRATIONS = Component(
    "tandem_dead_letters",
    [
        Migration(
            1,
            "dead letters",
            """
            CREATE TABLE tandem_dead_letters (
                projection TEXT NOT NULL,
                position BIGINT NOT NULL,
                aggregate_id TEXT NOT NULL,
                event BYTEA NOT NULL,
                error TEXT NOT NULL,
                parked_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (projection, position)
            );
            """,
        )
    ],
)


class PostgresDeadLetters:
    """Dead letters of the services profile, in the write database."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def park(self, projection: str, event: StoredEvent, error: str) -> None:
        await self.pool.execute(
            "INSERT INTO tandem_dead_letters VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (projection, position) DO UPDATE SET error = excluded.error",
            projection,
            event.position,
            event.aggregate_id,
            encode(event),
            error,
            time.time(),
        )

    async def list(self, projection: str | None = None) -> list[DeadLetter]:
        if projection is None:
            rows = await self.pool.fetch("SELECT * FROM tandem_dead_letters ORDER BY position")
        else:
            rows = await self.pool.fetch(
                "SELECT * FROM tandem_dead_letters WHERE projection = $1 ORDER BY position",
                projection,
            )
        return [_letter(tuple(row.values())) for row in rows]

    async def parked_aggregates(self, projection: str) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT aggregate_id FROM tandem_dead_letters WHERE projection = $1",
            projection,
        )
        return {str(row[0]) for row in rows}

    async def remove(self, projection: str, positions: Sequence[int]) -> None:
        await self.pool.execute(
            "DELETE FROM tandem_dead_letters"
            " WHERE projection = $1 AND position = ANY($2::bigint[])",
            projection,
            list(positions),
        )

    async def forget_after(self, projection: str, checkpoint: int) -> None:
        await self.pool.execute(
            "DELETE FROM tandem_dead_letters WHERE projection = $1 AND position > $2",
            projection,
            checkpoint,
        )

    async def counts(self) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT projection, count(*) FROM tandem_dead_letters GROUP BY projection"
        )
        return {str(row[0]): int(row[1]) for row in rows}


def per_projection(counts: dict[str, int], name: str) -> int:
    """Letters of a projection, its partitions' (`name.pN`) included."""
    return sum(n for key, n in counts.items() if key == name or key.startswith(f"{name}.p"))
