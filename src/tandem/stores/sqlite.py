"""Projections on SQLite: read-model change and checkpoint in one transaction."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from tandem.db.sqlite import SqliteDatabase, SqliteReader, transaction
from tandem.messages import StoredEvent
from tandem.projections import checkpoints
from tandem.projections.base import Projection

SqliteProjection = Projection[sqlite3.Connection]


def setup(conn: sqlite3.Connection, projection: SqliteProjection) -> int:
    with transaction(conn):
        conn.execute(checkpoints.CHECKPOINT_TABLE)
        projection.setup(conn)
        return checkpoints.load(conn, projection.name)


def apply_in_transaction(
    conn: sqlite3.Connection, projection: SqliteProjection, events: list[StoredEvent]
) -> int:
    """Apply events past the stored checkpoint inside the caller's open transaction."""
    return checkpoints.apply_past(conn, projection, events)


class SqliteProjectionStore:
    """A SQLite file holding one or more read models and their checkpoints."""

    kind = "sqlite"

    def __init__(self, path: str | Path, *, inline: bool = False) -> None:
        self.path = Path(path)
        self.db = SqliteDatabase(self.path, inline=inline)
        self._reader: SqliteReader | None = None

    @property
    def reader(self) -> SqliteReader:
        """Read-only connections for queries against this store."""
        if self._reader is None:
            self._reader = SqliteReader(self.path)
        return self._reader

    async def setup(self, projection: SqliteProjection) -> int:
        """Create the read model's tables, settle it (a process stopped right after a
        catch-up, as a seed is, may not have) and return its checkpoint."""
        position = await self.db.run(lambda c: setup(c, projection))
        await self.settle(projection)
        return position

    async def apply(self, projection: SqliteProjection, events: list[StoredEvent]) -> int:
        def _apply(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return apply_in_transaction(conn, projection, events)

        return await self.db.run(_apply)

    async def apply_parked(self, projection: SqliteProjection, events: list[StoredEvent]) -> None:
        """Apply parked events again in one transaction; the checkpoint stays."""

        def _apply(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                checkpoints.apply_again(conn, projection, events)

        await self.db.run(_apply)

    async def settle(self, projection: SqliteProjection) -> list[str]:
        """The projection's own tidying after a catch-up (`Projection.settle`), in one
        transaction, off the event loop: merging a large index can take a second."""

        def _settle(conn: sqlite3.Connection) -> list[str]:
            with transaction(conn):
                return projection.settle(conn)

        return await self.db.run_long(_settle)

    async def stored_checkpoint(self, name: str) -> tuple[int, int] | None:
        """(position, version) stored for `name`, read without the projection's code."""
        return await self.db.run(lambda c: checkpoints.stored(c, name))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.db.close()


def schema_objects(projection: SqliteProjection) -> list[str]:
    """The tables, indexes, triggers and views the projection's `setup` creates, found by
    running it on an empty database in memory (leaving out the shadow tables a virtual
    table keeps, which SQLite names after it, and SQLite's automatic indexes)."""
    return _schema(projection)[0]


def _schema(projection: SqliteProjection) -> tuple[list[str], set[str]]:
    """(schema objects, column names of its tables) of the projection's read model."""
    conn = sqlite3.connect(":memory:")
    try:
        projection.setup(conn)
        shadows = {row[1] for row in conn.execute("PRAGMA table_list") if row[2] == "shadow"}
        objects = sorted(
            str(row[0])
            for row in conn.execute("SELECT name FROM sqlite_master")
            if not str(row[0]).startswith("sqlite_") and row[0] not in shadows
        )
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        columns = {
            str(column[1]).lower()
            for name in tables
            for column in conn.execute(f'PRAGMA table_info("{name}")')
        }
        return objects, columns
    finally:
        conn.close()


class TableNames:
    """How one copy of a projection's read model names its tables in a shared database.

    Projections and queries are plain SQL against fixed names. A second copy beside the
    live one (a rebuild of a `sync` read model in the write database) gives each of the
    projection's tables, indexes, triggers and views the same suffix, and `connection`
    hands out a connection that rewrites those names, as whole words, in every statement
    it runs: the same projection and query code then reads and writes either copy.
    Parameters are never rewritten, and neither is anything else the projection names
    (its checkpoint row, the write tables). The first copy keeps the projection's own
    names and gets the connection itself.

    >>> names = TableNames.for_copy(ProductDetailProjection(), "_g2")  # doctest: +SKIP
    >>> names.connection(conn).execute("SELECT doc FROM product_detail")  # doctest: +SKIP
    """

    def __init__(self, renames: Mapping[str, str]) -> None:
        self.renames = {old.lower(): new for old, new in renames.items()}
        if not self.renames:
            return
        words = sorted(self.renames, key=len, reverse=True)
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)

        def rewrite(sql: str) -> str:
            return pattern.sub(lambda match: self.renames[match.group(0).lower()], sql)

        # Statements are a small set of constant strings, so each is rewritten once.
        self._rewrite = functools.lru_cache(maxsize=2048)(rewrite)

    @classmethod
    def for_copy(cls, projection: SqliteProjection, suffix: str) -> TableNames:
        """The names of the copy whose objects end in `suffix` ("" for the first copy).

        Refused (ValueError) when a column has the name of one of the projection's
        tables: rewriting whole words could not tell the two apart.
        """
        if not suffix:
            return cls({})
        objects, columns = _schema(projection)
        clashes = columns & {name.lower() for name in objects}
        if clashes:
            raise ValueError(
                f"{projection.name}: columns named like its tables ({', '.join(sorted(clashes))})"
            )
        return cls({name: name + suffix for name in objects})

    @property
    def objects(self) -> list[str]:
        """The copy's schema objects, by their names in the database."""
        return sorted(self.renames.values())

    def sql(self, statement: str) -> str:
        """`statement` addressed to this copy."""
        return self._rewrite(statement) if self.renames else statement

    def connection(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """`conn` itself for the first copy, else a connection addressed to this copy."""
        if not self.renames:
            return conn
        # It answers everything projections and queries use of a connection.
        return cast(sqlite3.Connection, _Renamed(conn, self._rewrite))


class _Renamed:
    """A connection whose statements are rewritten before they run (see `TableNames`)."""

    def __init__(self, conn: sqlite3.Connection, rewrite: Callable[[str], str]) -> None:
        self._conn = conn
        self._rewrite = rewrite

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self._conn.execute(self._rewrite(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return self._conn.executemany(self._rewrite(sql), parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
