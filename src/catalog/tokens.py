"""Bearer tokens: a subject and scopes, stored as digests, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.files import private_dir

SCOPES = ("catalog:write", "inventory:write", "orders", "admin")
ADMIN_SUBJECT = "admin"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL DEFAULT (julianday('now'))
)
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    subject: str
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def allows(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "tdm_" + secrets.token_urlsafe(32)


def admin_token(configured: str | None, data_dir: Path) -> tuple[str, bool]:
    """The admin token: the configured one, or one generated on first start and kept
    (mode 0600) in the data directory. Returns the token and whether it is new."""
    if configured:
        return configured, False
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip(), False
    token = new_token()
    private_dir(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, True


def create(conn: sqlite3.Connection, subject: str, scopes: list[str]) -> str:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    token = new_token()
    conn.execute(SCHEMA)
    conn.execute(
        "INSERT INTO tokens (digest, subject, scopes) VALUES (?, ?, ?)",
        (digest(token), subject, " ".join(sorted(set(scopes)))),
    )
    return token


class TokenVerifier:
    """Resolves bearer tokens to principals.

    Only digests are kept. A presented token is hashed, looked up by its digest, and
    the stored digest is then compared with the presented one by `hmac.compare_digest`:
    no comparison ever runs on a secret, and none stops early on a partial match.
    """

    def __init__(self, admin: str) -> None:
        self._admin_digest = digest(admin)
        self._known: dict[str, tuple[str, Principal]] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        conn.execute(SCHEMA)
        self.load_rows(conn.execute("SELECT digest, subject, scopes FROM tokens"))

    def load_rows(self, rows: Iterable[Sequence[str]]) -> None:
        """Take (digest, subject, space-separated scopes) rows from the token table."""
        for row in rows:
            self._remember(row[0], Principal(row[1], frozenset(row[2].split())))

    def add(self, token: str, principal: Principal) -> None:
        self._remember(digest(token), principal)

    def _remember(self, stored: str, principal: Principal) -> None:
        self._known[stored] = (stored, principal)

    def verify(self, token: str) -> Principal | None:
        presented = digest(token)
        if hmac.compare_digest(presented, self._admin_digest):
            return Principal(ADMIN_SUBJECT, frozenset(SCOPES))
        # The lookup's timing depends on the digest, which a caller cannot steer
        # character by character; the match itself is confirmed in constant time.
        stored, principal = self._known.get(presented, (_NO_MATCH, None))
        matched = hmac.compare_digest(presented, stored)
        return principal if matched else None


# Never a SHA-256 hex digest: what an unknown token is compared with.
_NO_MATCH = "-" * 64
