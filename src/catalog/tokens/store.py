"""Stored tokens and their lifecycle: issue, list, revoke, expire.

A token is kept as its digest beside an id (which is not the secret and may be shown),
its subject, scopes, when it was made, when it expires (if ever) and when it was
revoked (if it was). The secret itself is returned once, by `issue`, and never stored.
Each backend (`catalog.tokens.sqlite`, `catalog.tokens.postgres`) keeps the rows in the
write database, so every API process sees a change at its next lookup.

    secret, record = await issue(store, "alice", ["orders"], expires_in=86400)
    await store.revoke(record.id)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from catalog.tokens import Principal, digest, new_token
from catalog.tokens.rules import check_lifetime, check_scopes, check_subject, takeable


@dataclass(frozen=True)
class TokenRecord:
    """A stored token as it may be shown: everything but the secret and its digest.
    Times are seconds since the epoch."""

    id: str
    subject: str
    scopes: frozenset[str]
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def state(self, now: float) -> str:
        """`revoked`, `expired` or `active`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def usable(self, now: float) -> bool:
        # A subject stored before subjects were checked may be one no token may take.
        return self.state(now) == "active" and takeable(self.subject)

    @property
    def principal(self) -> Principal:
        return Principal(self.subject, self.scopes)


@dataclass(frozen=True)
class StoredToken:
    """A record with the digest it is found by."""

    digest: str
    record: TokenRecord


class TokenStore(Protocol):
    """Where tokens are kept: the write database of the profile."""

    async def add(self, token: StoredToken) -> None:
        """Keep a new token."""
        ...

    async def find(self, digest: str) -> StoredToken | None:
        """The token stored under `digest`, revoked and expired ones included."""
        ...

    async def list(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        ...

    async def revoke(self, id: str, at: float) -> TokenRecord | None:
        """Mark token `id` revoked at `at` (a revoked token keeps its first time);
        None when there is no such token."""
        ...


async def issue(
    store: TokenStore,
    subject: str,
    scopes: Iterable[str],
    expires_in: int | None = None,
    *,
    now: float | None = None,
) -> tuple[str, TokenRecord]:
    """Make a token for `subject` (`InvalidInput` if the rules refuse it): the secret,
    to hand out once, and its record."""
    checked = check_subject(subject)
    wanted = check_scopes(scopes)
    lifetime = check_lifetime(expires_in)
    created = time.time() if now is None else now
    record = TokenRecord(
        id=str(uuid.uuid4()),
        subject=checked,
        scopes=wanted,
        created_at=created,
        expires_at=None if lifetime is None else created + lifetime,
    )
    secret = new_token()
    await store.add(StoredToken(digest(secret), record))
    return secret, record


def scopes_text(scopes: Iterable[str]) -> str:
    """Scopes as one column holds them: sorted, space-separated."""
    return " ".join(sorted(scopes))
