"""The check of a presented bearer token: the admin token, then the stored ones.

Only digests are compared. A presented token is hashed, looked up by its digest, and
the stored digest is then compared with the presented one by `hmac.compare_digest`:
no comparison ever runs on a secret, and none stops early on a partial match.

Stored tokens are looked up in the write database (`catalog.tokens.store`), so a token
made, revoked or expired by any process or by the CLI counts without a restart. A
verified token is remembered for at most `CACHE_SECONDS` (bounded to `CACHE_SIZE`
tokens): a revocation reaches every API process within that time, and at once in the
process that revoked it. Expiry is checked at every request, cached or not.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable

from catalog.tokens import ADMIN_SUBJECT, SCOPES, Principal, digest
from catalog.tokens.store import StoredToken, TokenStore

CACHE_SECONDS = 1.0
CACHE_SIZE = 10_000


class TokenVerifier:
    """Resolves bearer tokens to principals (`attach` a store for the stored tokens)."""

    def __init__(
        self,
        admin: str,
        store: TokenStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._admin_digest = digest(admin)
        self._store = store
        self._clock = clock
        self._wall = wall
        self._seen: OrderedDict[str, tuple[float, StoredToken]] = OrderedDict()

    def attach(self, store: TokenStore) -> None:
        """Look stored tokens up in `store` from now on."""
        self._store = store
        self.forget()

    def forget(self) -> None:
        """Drop every remembered token (this process revoked one)."""
        self._seen.clear()

    async def verify(self, token: str) -> Principal | None:
        presented = digest(token)
        if hmac.compare_digest(presented, self._admin_digest):
            return Principal(ADMIN_SUBJECT, frozenset(SCOPES))
        stored = await self._lookup(presented)
        # The lookup's timing depends on the digest, which a caller cannot steer
        # character by character; the match itself is confirmed in constant time.
        matched = hmac.compare_digest(presented, stored.digest if stored else _NO_MATCH)
        if not matched or stored is None or not stored.record.usable(self._wall()):
            return None
        return stored.record.principal

    async def _lookup(self, presented: str) -> StoredToken | None:
        now = self._clock()
        seen = self._seen.get(presented)
        if seen is not None and now - seen[0] < CACHE_SECONDS:
            return seen[1]
        if self._store is None:
            return None
        stored = await self._store.find(presented)
        self._seen.pop(presented, None)
        if stored is not None:
            self._seen[presented] = (now, stored)
            if len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)
        return stored


# Never a SHA-256 hex digest: what an unknown token is compared with.
_NO_MATCH = "-" * 64
