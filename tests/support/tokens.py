"""Token stores on a real write database, for tests of tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from catalog.tokens.sqlite import SqliteTokens
from catalog.write.sqlite_schema import create_schema
from tandem.db.sqlite import SqliteDatabase


@asynccontextmanager
async def sqlite_tokens(folder: Path) -> AsyncIterator[SqliteTokens]:
    """The token store of a new embedded write database in `folder`."""
    db = SqliteDatabase(folder / "write.db")
    db.call(create_schema)
    try:
        yield SqliteTokens(db)
    finally:
        db.close()
