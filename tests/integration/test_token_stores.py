"""Token stores in each profile's write database answer alike: add, find, list, revoke;
and tokens of the table before ids, expiry and revocation are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.services import PostgresDatabase, create_database, drop_database
from tests.support.tokens import sqlite_tokens

from catalog.migrations import MIGRATIONS
from catalog.tokens import Principal, digest
from catalog.tokens.postgres import PostgresTokens
from catalog.tokens.store import StoredToken, TokenStore, issue
from catalog.tokens.verifier import TokenVerifier
from catalog.write import postgres_schema
from tandem.db.postgres import create_pool
from tandem.migrations import Component, migrate

ADMIN = "admin-token-for-the-store-tests"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TokenStore]:
    if request.param == "sqlite":
        async with sqlite_tokens(tmp_path) as tokens:
            yield tokens
        return
    database = await create_database()
    pool = await create_pool(database.url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS)
        yield PostgresTokens(pool)
    finally:
        await pool.close()
        await drop_database(database)


async def test_a_token_is_found_by_its_digest_only(store: TokenStore) -> None:
    secret, record = await issue(store, "alice", ["orders", "catalog:write"], expires_in=60)
    found = await store.find(digest(secret))
    assert found == StoredToken(digest(secret), found.record if found else record)
    assert found is not None and found.record.id == record.id
    assert found.record.scopes == frozenset({"orders", "catalog:write"})
    assert found.record.expires_at == pytest.approx(record.expires_at, abs=1e-3)
    assert await store.find(digest(secret + "x")) is None
    assert await store.find(secret) is None


async def test_tokens_are_listed_oldest_first_and_revoked_once(store: TokenStore) -> None:
    _, first = await issue(store, "ann", ["orders"], now=1000.0)
    _, second = await issue(store, "bob", ["admin"], now=2000.0)
    assert [r.id for r in await store.list()] == [first.id, second.id]
    revoked = await store.revoke(first.id, at=3000.0)
    assert revoked is not None and revoked.revoked_at == pytest.approx(3000.0)
    again = await store.revoke(first.id, at=4000.0)
    assert again is not None and again.revoked_at == pytest.approx(3000.0)
    assert await store.revoke("no-such-token", at=5000.0) is None
    states = {r.subject: r.state(3500.0) for r in await store.list()}
    assert states == {"ann": "revoked", "bob": "active"}


async def test_a_revoked_token_no_longer_verifies(store: TokenStore) -> None:
    secret, record = await issue(store, "cat", ["orders"])
    check = TokenVerifier(ADMIN, store)
    assert await check.verify(secret) == Principal("cat", frozenset({"orders"}))
    await store.revoke(record.id, at=1.0)
    check.forget()
    assert await check.verify(secret) is None


@pytest.mark.services
async def test_postgres_tokens_of_the_old_table_are_kept_with_ids(
    pg_database: PostgresDatabase,
) -> None:
    pool = await create_pool(pg_database.url, min_size=1, max_size=2)
    try:
        before_ids = [
            *MIGRATIONS[:-1],
            Component("catalog", postgres_schema.MIGRATIONS.migrations[:2]),
        ]
        async with pool.acquire() as conn:
            await migrate(conn, before_ids)
            await conn.executemany(
                "INSERT INTO tokens (digest, subject, scopes) VALUES ($1, $2, 'orders')",
                [(digest("tdm_alice"), "alice"), (digest("tdm_fake_admin"), "Admin")],
            )
            applied = await migrate(conn, MIGRATIONS)
        # The token migration, then any later one.
        assert applied[0] == "catalog:3 tokens with ids, expiry and revocation"
        store = PostgresTokens(pool)
        records = {r.subject: r for r in await store.list()}
        assert records["alice"].revoked_at is None and records["alice"].id
        assert records["Admin"].revoked_at is not None
        check = TokenVerifier(ADMIN, store)
        assert await check.verify("tdm_alice") == Principal("alice", frozenset({"orders"}))
        assert await check.verify("tdm_fake_admin") is None
    finally:
        await pool.close()
