"""The library on PostgreSQL: books, the event log and the shelf in one database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from examples.library.app import Library, ShelfEntry, event_registry, library, running
from examples.library.domain import Book, BookOnShelf
from tandem import ProjectionRunner, StoredEvent, VersionWatch
from tandem.postgres import (
    TOOLKIT_MIGRATIONS,
    Component,
    Connection,
    Migration,
    PostgresEventLog,
    PostgresProjection,
    PostgresProjectionStore,
    PostgresUnitOfWork,
    PostgresWriter,
    Upsert,
    Write,
    create_pool,
    migrate,
)

SCHEMA = Component(
    "library",
    [
        Migration(
            1,
            "books",
            "CREATE TABLE books (id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " title TEXT NOT NULL, borrower TEXT)",
        )
    ],
)


# --8<-- [start:write]
def save_book(book: Book) -> Write:
    """One statement, joined to the append of the book's events at commit."""
    return Write(
        "INSERT INTO books (id, version, title, borrower) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
        " borrower = excluded.borrower WHERE books.version < excluded.version",
        (book.id, book.version, book.title, book.borrower),
        book.id,
        book.version,
    )


class PostgresLibraryUnitOfWork(PostgresUnitOfWork):
    async def book(self, book_id: str) -> Book | None:
        await self.hold([book_id])  # locked, or checked at commit when optimistic
        row = await self.fetchrow(
            "SELECT id, version, title, borrower FROM books WHERE id = $1", book_id
        )
        return None if row is None else Book(*row.values())


# --8<-- [end:write]


# --8<-- [start:projection]
class Shelf(PostgresProjection):
    name = "shelf"
    event_types = frozenset({"BookAdded", "BookLent"})

    async def setup(self, tx: Connection) -> None:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS shelf (book_id TEXT PRIMARY KEY, title TEXT, lent_to TEXT)"
        )

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        if event.type == "BookAdded":
            await tx.execute(
                "INSERT INTO shelf VALUES ($1, $2, NULL)", event.aggregate_id, event.data["title"]
            )
        else:
            await tx.execute(
                "UPDATE shelf SET lent_to = $1 WHERE book_id = $2",
                event.data["member"],
                event.aggregate_id,
            )


# --8<-- [end:projection]


# --8<-- [start:wiring]
@contextlib.asynccontextmanager
async def open_library(url: str) -> AsyncIterator[Library]:
    pool = await create_pool(url)
    async with pool.acquire() as conn:
        await migrate(conn, [*TOOLKIT_MIGRATIONS, SCHEMA])
    log = PostgresEventLog(pool)
    head = VersionWatch(await log.head())
    writer = PostgresWriter(
        pool, event_registry(), {Book: Upsert(save_book)}, on_commit=head.advance
    )
    shelf = ProjectionRunner(Shelf(), PostgresProjectionStore(pool), log, head)
    await shelf.start()

    async def on_shelf(query: BookOnShelf) -> ShelfEntry | None:
        row = await pool.fetchrow(
            "SELECT title, lent_to FROM shelf WHERE book_id = $1", query.book_id
        )
        return None if row is None else dict(row.items())

    try:
        async with running(shelf.run()):
            yield library(lambda: PostgresLibraryUnitOfWork(writer), shelf, on_shelf)
    finally:
        await pool.close()


# --8<-- [end:wiring]
