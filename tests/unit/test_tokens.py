"""Bearer tokens: kept as digests, verified by constant-time comparison of digests, with
a lifecycle (revocation, expiry) that a short, bounded cache cannot outlive."""

from __future__ import annotations

import hmac
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.tokens import sqlite_tokens

from catalog.domain.errors import InvalidInput
from catalog.tokens import SCOPES, Principal, digest, verifier
from catalog.tokens.rules import MAX_SUBJECT, check_scopes, check_subject
from catalog.tokens.sqlite import SqliteTokens
from catalog.tokens.store import StoredToken, TokenRecord, issue
from catalog.tokens.verifier import CACHE_SECONDS, TokenVerifier
from catalog.write.sqlite_schema import create_schema
from tandem.db.sqlite import SqliteDatabase

ADMIN = "admin-secret-token"
REAL_COMPARE = hmac.compare_digest


class Comparisons:
    """Every `hmac.compare_digest` call the verifier makes, passed through."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, a: str, b: str) -> bool:
        self.calls.append((a, b))
        return REAL_COMPARE(a, b)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> Comparisons:
    spy = Comparisons()
    monkeypatch.setattr(verifier.hmac, "compare_digest", spy)
    return spy


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteTokens]:
    async with sqlite_tokens(tmp_path) as tokens:
        yield tokens


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(ch in "0123456789abcdef-" for ch in value)


async def test_the_table_holds_digests_never_tokens(store: SqliteTokens) -> None:
    token, record = await issue(store, "alice", ["orders"])
    rows = store.db.call(
        lambda c: [tuple(r) for r in c.execute("SELECT id, digest, subject, scopes FROM tokens")]
    )
    assert rows == [(record.id, digest(token), "alice", "orders")]
    assert token not in repr(rows)
    assert record.id not in token


@pytest.mark.parametrize("who", ["admin", "customer", "unknown", "near miss"])
async def test_every_verification_compares_digests_in_constant_time(
    store: SqliteTokens, comparisons: Comparisons, who: str
) -> None:
    token, _ = await issue(store, "alice", ["orders"])
    check = TokenVerifier(ADMIN, store)
    presented = {
        "admin": ADMIN,
        "customer": token,
        "unknown": "tdm_" + "x" * 43,
        "near miss": token[:-1] + ("A" if token[-1] != "A" else "B"),
    }[who]

    found = await check.verify(presented)

    expected = {
        "admin": Principal("admin", frozenset(SCOPES)),
        "customer": Principal("alice", frozenset({"orders"})),
    }.get(who)
    assert found == expected
    assert comparisons.calls, "a token was verified without hmac.compare_digest"
    for a, b in comparisons.calls:
        # Digests of one length on both sides: never the token itself.
        assert _is_digest(a) and _is_digest(b), (a, b)
        assert presented not in (a, b)
        assert a == digest(presented)
    if who != "admin":
        # Past the admin check, the match itself is confirmed in constant time.
        assert len(comparisons.calls) == 2


async def test_a_stored_digest_is_not_a_credential(store: SqliteTokens) -> None:
    token, _ = await issue(store, "alice", ["orders"])
    check = TokenVerifier(ADMIN, store)
    assert await check.verify(digest(token)) is None
    assert await check.verify(digest(ADMIN)) is None


async def test_a_token_made_after_start_verifies_at_once(store: SqliteTokens) -> None:
    check = TokenVerifier(ADMIN, store)
    assert await check.verify("tdm_unknown") is None
    token, _ = await issue(store, "bob", ["orders", "catalog:write"])
    assert await check.verify(token) == Principal("bob", frozenset({"orders", "catalog:write"}))


async def test_a_revocation_outlives_no_cache_longer_than_its_bound(store: SqliteTokens) -> None:
    clock = Clock()
    elsewhere = TokenVerifier(ADMIN, store, clock=clock)
    here = TokenVerifier(ADMIN, store, clock=clock)
    token, record = await issue(store, "carol", ["orders"])
    assert await elsewhere.verify(token) is not None
    assert await here.verify(token) is not None

    assert await store.revoke(record.id, at=1.0) is not None
    here.forget()  # what the revoking process does
    assert await here.verify(token) is None
    clock.now += CACHE_SECONDS * 0.5
    assert await elsewhere.verify(token) is not None  # still remembered, within the bound
    clock.now += CACHE_SECONDS * 0.5
    assert await elsewhere.verify(token) is None


async def test_an_expired_token_is_refused_even_when_remembered(store: SqliteTokens) -> None:
    wall = Clock(now=10_000.0)
    check = TokenVerifier(ADMIN, store, wall=wall)
    token, record = await issue(store, "dave", ["orders"], expires_in=60, now=wall.now)
    assert record.expires_at == wall.now + 60
    assert await check.verify(token) is not None
    wall.now += 59.9
    assert await check.verify(token) is not None
    wall.now += 0.1
    assert await check.verify(token) is None
    assert record.state(wall.now) == "expired"


async def test_the_cache_of_verified_tokens_is_bounded(
    store: SqliteTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verifier, "CACHE_SIZE", 3)
    check = TokenVerifier(ADMIN, store)
    for n in range(10):
        token, _ = await issue(store, f"user{n}", ["orders"])
        assert await check.verify(token) is not None
    assert len(check._seen) == 3


async def test_a_stored_token_with_a_reserved_subject_is_refused(store: SqliteTokens) -> None:
    legacy = TokenRecord("legacy", "admin", frozenset({"orders"}), created_at=0.0)
    await store.add(StoredToken(digest("tdm_legacy"), legacy))
    assert await TokenVerifier(ADMIN, store).verify("tdm_legacy") is None


@pytest.mark.parametrize(
    "subject",
    [
        "admin",
        "ADMIN",
        "",
        "  ",
        " alice",
        "alice ",
        "al\x00ice",
        "al\nice",
        "x" * (MAX_SUBJECT + 1),
    ],
)
def test_a_subject_no_customer_token_may_take_is_refused(subject: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_subject(subject)
    assert refused.value.field == "subject"


@pytest.mark.parametrize("subject", ["alice", "Ádám Kovács", "admin2", "x" * MAX_SUBJECT])
def test_an_ordinary_subject_is_taken(subject: str) -> None:
    assert check_subject(subject) == subject


@pytest.mark.parametrize("scopes", [[], ["root"], ["orders", "root"]])
def test_scopes_must_be_known_and_at_least_one(scopes: list[str]) -> None:
    with pytest.raises(InvalidInput):
        check_scopes(scopes)


async def test_tokens_of_an_old_data_directory_are_kept_with_ids(tmp_path: Path) -> None:
    path = tmp_path / "write.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE tokens (digest TEXT PRIMARY KEY, subject TEXT NOT NULL,"
        " scopes TEXT NOT NULL, created_at REAL NOT NULL DEFAULT (julianday('now')))"
    )
    rows = [(digest("tdm_alice"), "alice"), (digest("tdm_fake_admin"), "admin")]
    old.executemany("INSERT INTO tokens (digest, subject, scopes) VALUES (?, ?, 'orders')", rows)
    old.commit()
    old.close()
    db = SqliteDatabase(path)
    try:
        db.call(create_schema)
        db.call(create_schema)  # a second start changes nothing
        store = SqliteTokens(db)
        records = {r.subject: r for r in await store.list()}
        assert set(records) == {"alice", "admin"}
        assert records["alice"].state(time.time()) == "active"
        assert records["admin"].state(time.time()) == "revoked"
        assert abs(records["alice"].created_at - time.time()) < 3600
        check = TokenVerifier(ADMIN, store)
        assert await check.verify("tdm_alice") == Principal("alice", frozenset({"orders"}))
        assert await check.verify("tdm_fake_admin") is None
    finally:
        db.close()


def test_the_http_body_offers_exactly_the_known_scopes() -> None:
    from typing import get_args

    from catalog.api.tokens import Scope

    assert set(get_args(Scope)) == set(SCOPES)
