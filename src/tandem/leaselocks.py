"""A worker's lock session: session advisory locks that PostgreSQL drops with it.

On one connection of its own a worker holds an advisory lock for itself and one for
every lease it holds. When the process dies, the kernel closes that connection and the
server releases every one of its locks at once, so the other workers see its share
free within their poll interval instead of waiting for the timed lease to run out.

The connection asks the server for short TCP keepalives, so the locks of a host that
vanished without closing its connection go within seconds too; until then (or while
the worker is alive but cut off from the database) its timed lease decides: a session
whose worker stopped heartbeating is ended by the next worker that wants a lease it
locks (see `tandem.leases`).

Keys are `hashtextextended(space || name, 0)`, one 64-bit space for workers and one for
leases; `tandem_advisory_holders` (a view over `pg_locks`) tells who holds which key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("tandem.leases")

WORKER_SPACE = "tandem-worker:"
LEASE_SPACE = "tandem-lease:"

# The server drops a session whose peer went silent after about idle + interval *
# count seconds (or unacknowledged data after the user timeout): later than a cut-off
# worker stops its runners on its own (`Leases.fence_after`, 4 s at the default ttl).
_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "8000",
}

_VACANT = (
    "SELECT count(*) FROM unnest($1::text[]) AS n(name) WHERE NOT EXISTS ("
    " SELECT 1 FROM tandem_advisory_holders h"
    " WHERE h.key = hashtextextended($2 || n.name, 0))"
)


class LockSession:
    """The dedicated connection a worker's advisory locks live on.

    `lost` is set the moment the connection closes for any reason other than `close`
    (the server ended it, the network dropped it): every lock is gone with it.
    """

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self.lost = asyncio.Event()
        self._conn: asyncpg.Connection[Any] | None = None

    @property
    def alive(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def open(self, worker_id: str) -> None:
        """Connect and take the worker's own lock (its sign of life to the others)."""
        import asyncpg

        await self.close()
        conn = await asyncpg.connect(
            self.url,
            timeout=self.timeout,
            server_settings={"application_name": f"tandem-leases {worker_id}"[:63], **_KEEPALIVES},
        )
        try:
            mine = await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                WORKER_SPACE + worker_id,
                timeout=self.timeout,
            )
        except BaseException:
            conn.terminate()
            raise
        if not mine:  # ids are unique per session: another holds this one
            conn.terminate()
            raise RuntimeError(f"worker id {worker_id} is locked by another session")
        self.lost.clear()
        conn.add_termination_listener(self._closed)
        self._conn = conn

    def _closed(self, conn: object) -> None:
        if conn is self._conn:
            self._conn = None
            self.lost.set()

    def _live(self) -> asyncpg.Connection[Any]:
        if self._conn is None or self._conn.is_closed():
            raise ConnectionError("the lock session is closed")
        return self._conn

    async def try_lock(self, name: str) -> bool:
        """Take the lock of lease `name` if no session holds it."""
        return bool(
            await self._live().fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                LEASE_SPACE + name,
                timeout=self.timeout,
            )
        )

    async def unlock(self, names: Sequence[str]) -> None:
        await self._live().execute(
            "SELECT pg_advisory_unlock(hashtextextended($2 || n, 0)) FROM unnest($1::text[]) n",
            list(names),
            LEASE_SPACE,
            timeout=self.timeout,
        )

    async def vacant(self, names: Sequence[str]) -> int:
        """How many of the leases `names` no session locks (a worker died, or gave
        them back)."""
        return int(
            await self._live().fetchval(_VACANT, list(names), LEASE_SPACE, timeout=self.timeout)
        )

    async def close(self) -> None:
        """Let every lock go: at once, without waiting on a connection that may hang."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()
