"""The library on SQLite: a write database holding the books and the event log, and a
read database holding the shelf."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from examples.library.app import Library, ShelfEntry, event_registry, library, running
from examples.library.domain import Book, BookOnShelf
from tandem import ProjectionRunner, StoredEvent, VersionWatch
from tandem.sqlite import (
    SqliteDatabase,
    SqliteEventLogReader,
    SqliteProjection,
    SqliteProjectionStore,
    SqliteUnitOfWork,
    SqliteWriter,
    checkpoint_wal,
    create_schema,
)


# --8<-- [start:write]
def save_book(conn: sqlite3.Connection, book: Book) -> None:
    conn.execute(
        "INSERT INTO books (id, version, title, borrower) VALUES (?, ?, ?, ?) ON CONFLICT (id)"
        " DO UPDATE SET version = excluded.version, borrower = excluded.borrower",
        (book.id, book.version, book.title, book.borrower),
    )


class SqliteLibraryUnitOfWork(SqliteUnitOfWork):
    async def book(self, book_id: str) -> Book | None:
        row = await self.run(
            lambda c: c.execute(
                "SELECT id, version, title, borrower FROM books WHERE id = ?", (book_id,)
            ).fetchone()
        )
        return None if row is None else Book(*row)


# --8<-- [end:write]


# --8<-- [start:projection]
class Shelf(SqliteProjection):
    name = "shelf"
    event_types = frozenset({"BookAdded", "BookLent"})

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS shelf (book_id TEXT PRIMARY KEY, title TEXT, lent_to TEXT)"
        )

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        if event.type == "BookAdded":
            tx.execute(
                "INSERT INTO shelf VALUES (?, ?, NULL)", (event.aggregate_id, event.data["title"])
            )
        else:
            tx.execute(
                "UPDATE shelf SET lent_to = ? WHERE book_id = ?",
                (event.data["member"], event.aggregate_id),
            )


def shelf_entry(conn: sqlite3.Connection, book_id: str) -> ShelfEntry | None:
    row = conn.execute("SELECT title, lent_to FROM shelf WHERE book_id = ?", (book_id,)).fetchone()
    return None if row is None else {"title": row[0], "lent_to": row[1]}


# --8<-- [end:projection]


# --8<-- [start:wiring]
@contextlib.asynccontextmanager
async def open_library(directory: Path) -> AsyncIterator[Library]:
    write_path = directory / "write.db"
    db = SqliteDatabase(write_path)
    db.call(create_schema)  # the event log and idempotency keys
    db.call(lambda c: c.execute(BOOKS))
    log = SqliteEventLogReader(write_path)
    head = VersionWatch(await log.head())  # advanced by every commit
    writer = SqliteWriter(db, event_registry(), head, {Book: save_book}, [])
    store = SqliteProjectionStore(directory / "read.db")
    shelf = ProjectionRunner(Shelf(), store, log, head)
    await shelf.start()  # creates the shelf's table, loads its checkpoint

    async def on_shelf(query: BookOnShelf) -> ShelfEntry | None:
        return await store.reader.run(lambda c: shelf_entry(c, query.book_id))

    try:
        async with running(shelf.run(), checkpoint_wal(write_path, head)):
            yield library(lambda: SqliteLibraryUnitOfWork(writer), shelf, on_shelf)
    finally:
        store.close()
        log.close()
        db.close()


# --8<-- [end:wiring]


BOOKS = """CREATE TABLE IF NOT EXISTS books (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, title TEXT NOT NULL, borrower TEXT
)"""
