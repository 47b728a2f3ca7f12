"""Bearer tokens: kept as digests, verified by constant-time comparison of digests."""

from __future__ import annotations

import hmac
import sqlite3
from pathlib import Path

import pytest

from catalog import tokens
from catalog.tokens import SCOPES, Principal, TokenVerifier, create, digest

ADMIN = "admin-secret-token"
REAL_COMPARE = hmac.compare_digest


class Comparisons:
    """Every `hmac.compare_digest` call the token module makes, passed through."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, a: str, b: str) -> bool:
        self.calls.append((a, b))
        return REAL_COMPARE(a, b)


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> Comparisons:
    spy = Comparisons()
    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    return spy


@pytest.fixture
def issued(tmp_path: Path) -> tuple[TokenVerifier, str, sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "tokens.db")
    token = create(conn, "alice", ["orders"])
    verifier = TokenVerifier(ADMIN)
    verifier.load(conn)
    return verifier, token, conn


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(ch in "0123456789abcdef-" for ch in value)


def test_the_table_holds_digests_never_tokens(
    issued: tuple[TokenVerifier, str, sqlite3.Connection],
) -> None:
    _verifier, token, conn = issued
    rows = conn.execute("SELECT digest, subject, scopes FROM tokens").fetchall()
    assert rows == [(digest(token), "alice", "orders")]
    assert token not in repr(rows)


@pytest.mark.parametrize("who", ["admin", "customer", "unknown", "near miss"])
def test_every_verification_compares_digests_in_constant_time(
    issued: tuple[TokenVerifier, str, sqlite3.Connection], comparisons: Comparisons, who: str
) -> None:
    verifier, token, _conn = issued
    presented = {
        "admin": ADMIN,
        "customer": token,
        "unknown": "tdm_" + "x" * 43,
        "near miss": token[:-1] + ("A" if token[-1] != "A" else "B"),
    }[who]

    found = verifier.verify(presented)

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


def test_a_stored_digest_is_not_a_credential(
    issued: tuple[TokenVerifier, str, sqlite3.Connection],
) -> None:
    verifier, token, _conn = issued
    assert verifier.verify(digest(token)) is None
    assert verifier.verify(digest(ADMIN)) is None


def test_tokens_added_at_run_time_verify_the_same_way(comparisons: Comparisons) -> None:
    verifier = TokenVerifier(ADMIN)
    verifier.load_rows([(digest("tdm_stock"), "stocker", "inventory:write catalog:write")])
    verifier.add("tdm_late", Principal("bob", frozenset({"orders"})))
    assert verifier.verify("tdm_stock") == Principal(
        "stocker", frozenset({"inventory:write", "catalog:write"})
    )
    assert verifier.verify("tdm_late") == Principal("bob", frozenset({"orders"}))
    assert verifier.verify("tdm_other") is None
    assert len(comparisons.calls) == 6
