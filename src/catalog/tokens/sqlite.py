"""Tokens in the embedded profile's write database (`write.db`, table `tokens`, made by
`catalog.write.sqlite_schema`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from catalog.tokens.store import StoredToken, TokenRecord, scopes_text
from tandem.db.sqlite import SqliteDatabase

_COLUMNS = "id, subject, scopes, created_at, expires_at, revoked_at"


def _record(row: Sequence[Any]) -> TokenRecord:
    return TokenRecord(
        id=row[0],
        subject=row[1],
        scopes=frozenset(row[2].split()),
        created_at=row[3],
        expires_at=row[4],
        revoked_at=row[5],
    )


class SqliteTokens:
    """`catalog.tokens.store.TokenStore` on a SQLite write database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def add(self, token: StoredToken) -> None:
        r = token.record

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tokens (id, digest, subject, scopes, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (r.id, token.digest, r.subject, scopes_text(r.scopes), r.created_at, r.expires_at),
            )

        await self.db.run(insert)

    async def find(self, digest: str) -> StoredToken | None:
        def select(conn: sqlite3.Connection) -> StoredToken | None:
            row = conn.execute(
                f"SELECT digest, {_COLUMNS} FROM tokens WHERE digest = ?", (digest,)
            ).fetchone()
            return None if row is None else StoredToken(row[0], _record(row[1:]))

        return await self.db.run(select)

    async def list(self) -> list[TokenRecord]:
        def select(conn: sqlite3.Connection) -> list[TokenRecord]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_at, id")
            return [_record(row) for row in rows]

        return await self.db.run(select)

    async def revoke(self, id: str, at: float) -> TokenRecord | None:
        def update(conn: sqlite3.Connection) -> TokenRecord | None:
            conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, id)
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (id,)).fetchone()
            return None if row is None else _record(row)

        return await self.db.run(update)
