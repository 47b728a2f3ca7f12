"""Tokens in the services profile's write database (table `tokens`, migrations of
`catalog.write.postgres_schema`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.tokens.store import StoredToken, TokenRecord, scopes_text

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

_COLUMNS = (
    "id, subject, scopes, extract(epoch FROM created_at)::float8 AS created_at,"
    " extract(epoch FROM expires_at)::float8 AS expires_at,"
    " extract(epoch FROM revoked_at)::float8 AS revoked_at"
)


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        subject=row["subject"],
        scopes=frozenset(row["scopes"].split()),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


class PostgresTokens:
    """`catalog.tokens.store.TokenStore` on a PostgreSQL write database."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def add(self, token: StoredToken) -> None:
        r = token.record
        await self.pool.execute(
            "INSERT INTO tokens (id, digest, subject, scopes, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, to_timestamp($5), to_timestamp($6))",
            r.id,
            token.digest,
            r.subject,
            scopes_text(r.scopes),
            r.created_at,
            r.expires_at,
        )

    async def find(self, digest: str) -> StoredToken | None:
        row = await self.pool.fetchrow(
            f"SELECT digest, {_COLUMNS} FROM tokens WHERE digest = $1", digest
        )
        return None if row is None else StoredToken(row["digest"], _record(row))

    async def list(self) -> list[TokenRecord]:
        rows = await self.pool.fetch(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_at, id")
        return [_record(row) for row in rows]

    async def revoke(self, id: str, at: float) -> TokenRecord | None:
        row = await self.pool.fetchrow(
            "WITH revoked AS (UPDATE tokens SET revoked_at = coalesce(revoked_at, to_timestamp($2))"
            f" WHERE id = $1 RETURNING *) SELECT {_COLUMNS} FROM revoked",
            id,
            at,
        )
        return None if row is None else _record(row)
