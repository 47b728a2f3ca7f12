"""`sync` projections: applied inside the write transaction, never behind the log.

A sync read model is a set of tables in the write database. A blue/green rebuild
(`tandem.rebuilds.sqlite`) folds a new copy of them beside the live one, its
names suffixed with its generation (`product_detail_g2`, see `TableNames`);
`tandem_generations` records, in the write database itself, which copy is live and
which projection version built it, so a restart serves the same copy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from tandem.consistency import VersionWatch
from tandem.db.sqlite import transaction
from tandem.eventlog import sqlite as sqlite_log
from tandem.messages import StoredEvent
from tandem.projections import checkpoints
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionState
from tandem.stores import sqlite as sqlite_projections
from tandem.stores.sqlite import TableNames

T = TypeVar("T")

# The state of a read model served as its stored copy, which an older (or newer)
# version of its projection built: this code does not run it until a rebuild switches.
OUTDATED = "outdated"

GENERATIONS = """
CREATE TABLE IF NOT EXISTS tandem_generations (
    projection TEXT NOT NULL,
    generation INTEGER NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    tables TEXT NOT NULL,
    PRIMARY KEY (projection, generation)
)
"""


@dataclass(frozen=True)
class Copy:
    """One copy of a sync read model's tables: `live`, `building` or `retired` (the
    replaced copy, until it is dropped); `tables` are its schema objects."""

    projection: str
    generation: int
    version: int
    state: str
    tables: tuple[str, ...]


def suffix(generation: int) -> str:
    """What the names of a generation's tables end with (nothing for the first)."""
    return "" if generation == 1 else f"_g{generation}"


def generations(conn: sqlite3.Connection, name: str) -> list[Copy]:
    """Every recorded copy of `name`, oldest first (none before its first start)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'tandem_generations'"
    ).fetchone()
    if exists is None:
        return []
    rows = conn.execute(
        "SELECT generation, version, state, tables FROM tandem_generations"
        " WHERE projection = ? ORDER BY generation",
        (name,),
    ).fetchall()
    return [Copy(name, int(r[0]), int(r[1]), str(r[2]), tuple(orjson.loads(r[3]))) for r in rows]


def live_names(conn: sqlite3.Connection, projection: Projection[sqlite3.Connection]) -> TableNames:
    """The names of the copy of `projection`'s tables that serves now."""
    live = [g for g in generations(conn, projection.name) if g.state == "live"]
    generation = live[0].generation if live else 1
    return TableNames.for_copy(projection, suffix(generation))


def drop_objects(conn: sqlite3.Connection, names: tuple[str, ...] | list[str]) -> None:
    """Drop tables, views, triggers and indexes by name, inside the caller's
    transaction (a table takes its indexes and triggers, a virtual table its shadows)."""
    for name in names:
        row = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        if row is not None:
            conn.execute(f'DROP {str(row[0]).upper()} IF EXISTS "{name}"')


def drop_generation(conn: sqlite3.Connection, name: str, generation: int, state: str) -> bool:
    """Forget generation `generation` of `name` and drop its tables, inside the caller's
    transaction, if it is still in `state` (False if it is not)."""
    row = conn.execute(
        "DELETE FROM tandem_generations WHERE projection = ? AND generation = ? AND state = ?"
        " RETURNING tables",
        (name, generation, state),
    ).fetchone()
    if row is None:
        return False
    drop_objects(conn, orjson.loads(row[0]))
    return True


class SyncProjection:
    """A projection whose read model lives in the write database.

    The unit of work applies it before COMMIT, so a command's answer already includes
    it. At start it catches up from the log in case it was asynchronous before or new.
    When the live copy was built by another version of the projection, it is served as
    it is (state `outdated`): commands no longer apply it and its checkpoint stays,
    until a rebuild to this version switches.
    """

    mode = "sync"

    def __init__(self, projection: Projection[sqlite3.Connection], store_kind: str) -> None:
        self.projection = projection
        self.store_kind = store_kind
        self.checkpoint = VersionWatch(0)
        self.state: ProjectionState | str = ProjectionState.STARTING
        self.error: str | None = None
        self.events_applied = 0
        self.generation = 1
        # The version of the projection that built the live copy.
        self.version = projection.version
        self.names = TableNames({})

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def outdated(self) -> bool:
        return self.version != self.projection.version

    def connection(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """`conn`, addressed to the live copy's tables."""
        return self.names.connection(conn)

    def load(self, conn: sqlite3.Connection) -> int:
        """Find the live copy (recording the first one) and return its checkpoint."""
        with transaction(conn):
            conn.execute(GENERATIONS)
            conn.execute(checkpoints.CHECKPOINT_TABLE)
            live = [g for g in generations(conn, self.name) if g.state == "live"]
            if live:
                self.generation, self.version = live[0].generation, live[0].version
            else:
                stored = conn.execute(
                    "SELECT version FROM tandem_checkpoints WHERE name = ?", (self.name,)
                ).fetchone()
                self.generation = 1
                self.version = int(stored[0]) if stored else self.projection.version
                conn.execute(
                    "INSERT INTO tandem_generations (projection, generation, version, state,"
                    " tables) VALUES (?, 1, ?, 'live', ?)",
                    (
                        self.name,
                        self.version,
                        orjson.dumps(sqlite_projections.schema_objects(self.projection)).decode(),
                    ),
                )
            self.names = TableNames.for_copy(self.projection, suffix(self.generation))
            return checkpoints.load(conn, self.name)

    def drop_leftovers(self, conn: sqlite3.Connection) -> list[int]:
        """Drop the copies a stopped process left behind (one it was building, one it
        had replaced); returns their generations."""
        with transaction(conn):
            conn.execute(GENERATIONS)
            left = [g for g in generations(conn, self.name) if g.state != "live"]
            for generation in left:
                drop_generation(conn, self.name, generation.generation, generation.state)
        return [g.generation for g in left]

    def catch_up(self, conn: sqlite3.Connection, batch_size: int = 2000) -> None:
        """Bring the read model up to the log head; runs before the first command."""
        position = self.load(conn)
        if self.outdated:
            self.checkpoint.advance(position)
            self.state = OUTDATED
            return
        tx = self.connection(conn)
        position = sqlite_projections.setup(tx, self.projection)
        while True:
            events = sqlite_log.read_after(conn, position, batch_size)
            if not events:
                break
            with transaction(conn):
                position = sqlite_projections.apply_in_transaction(tx, self.projection, events)
            self.events_applied += len(events)
        self.checkpoint.advance(position)
        self.state = ProjectionState.LIVE

    def apply(self, conn: sqlite3.Connection, events: list[StoredEvent]) -> int:
        """Apply a commit's events inside its open transaction."""
        if self.outdated:
            return self.checkpoint.value
        return sqlite_projections.apply_in_transaction(
            self.connection(conn), self.projection, events
        )

    def committed(self, position: int, count: int) -> None:
        if self.outdated:
            return
        self.events_applied += count
        self.checkpoint.advance(position)

    def switch(
        self,
        projection: Projection[sqlite3.Connection],
        generation: int,
        names: TableNames,
        position: int,
    ) -> None:
        """Apply commands to, and serve reads from, the copy `generation` from now on
        (a rebuild's, which `projection` built up to `position`)."""
        self.projection = projection
        self.generation, self.version, self.names = generation, projection.version, names
        self.state, self.error = ProjectionState.LIVE, None
        self.checkpoint.advance(position)

    def lag_seconds(self) -> float:
        return 0.0


class SyncReader:
    """Queries of a sync read model: the write database's reader, each query addressed
    to the copy that is live when it starts."""

    def __init__(self, reader: Any, sync: SyncProjection) -> None:
        self._reader = reader
        self._sync = sync
        self._pinned: PinnedCopy | None = None

    @property
    def current(self) -> PinnedCopy:
        """A reader of the copy live now, the same object until another copy is live."""
        names = self._sync.names
        if self._pinned is None or self._pinned.names is not names:
            self._pinned = PinnedCopy(self._reader, names)
        return self._pinned

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        names = self._sync.names
        result: T = self._reader.call(lambda conn: fn(names.connection(conn)))
        return result

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        names = self._sync.names
        result: T = await self._reader.run(lambda conn: fn(names.connection(conn)))
        return result


class PinnedCopy:
    """Queries of one copy of a sync read model, whichever copy is live later: what a
    reader that must notice a switch (the detail cache's follower) reads through."""

    def __init__(self, reader: Any, names: TableNames) -> None:
        self._reader = reader
        self.names = names

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        names = self.names
        result: T = self._reader.call(lambda conn: fn(names.connection(conn)))
        return result

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        names = self.names
        result: T = await self._reader.run(lambda conn: fn(names.connection(conn)))
        return result
