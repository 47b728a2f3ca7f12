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

A second connection of the worker's own, its life line, holds one more lock: that the
worker's runners may still be running. The worker closes it only once its runners have
stopped (or dies with it), so another worker that finds a lease free while its owner's
life line holds (the lease session was ended under a live worker) waits for it to go
instead of guessing how long stopping takes.

Keys are `hashtextextended(space || name, 0)`, one 64-bit space each for workers, life
lines and leases; `tandem_advisory_holders` (a view over `pg_locks`) tells who holds
which key.
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
LIFE_SPACE = "tandem-life:"

# The server drops a session whose peer went silent after about idle + interval *
# count seconds (or unacknowledged data after the user timeout): later than a cut-off
# worker stops its runners on its own (`Leases.fence_after`, 4 s at the default ttl).
_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "8000",
}


class LockSession:
    """The dedicated connections a worker's advisory locks live on: the lock session
    (its own lock and its leases') and its life line.

    `lost` is set the moment either connection closes for any reason other than
    `close` (the server ended it, the network dropped it): every lease lock may be gone.
    """

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self.lost = asyncio.Event()
        self._conn: asyncpg.Connection[Any] | None = None
        self._life: asyncpg.Connection[Any] | None = None

    @property
    def alive(self) -> bool:
        return (
            self._conn is not None
            and not self._conn.is_closed()
            and self._life is not None
            and not self._life.is_closed()
        )

    async def open(self, worker_id: str) -> None:
        """Connect and take the worker's own lock (its sign of life to the others) and
        its life line's."""
        await self.close()
        life = await self._locked("tandem-life", LIFE_SPACE, worker_id)
        try:
            conn = await self._locked("tandem-leases", WORKER_SPACE, worker_id)
        except BaseException:
            life.terminate()
            raise
        self.lost.clear()
        for each in (life, conn):
            each.add_termination_listener(self._closed)
        self._conn, self._life = conn, life

    async def _locked(
        self, application: str, space: str, worker_id: str
    ) -> asyncpg.Connection[Any]:
        """A connection of its own holding the lock `space || worker_id`."""
        import asyncpg

        conn = await asyncpg.connect(
            self.url,
            timeout=self.timeout,
            server_settings={"application_name": f"{application} {worker_id}"[:63], **_KEEPALIVES},
        )
        try:
            mine = await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                space + worker_id,
                timeout=self.timeout,
            )
        except BaseException:
            conn.terminate()
            raise
        if not mine:  # ids are unique per session: another holds this one
            conn.terminate()
            raise RuntimeError(f"worker id {worker_id} is locked by another session")
        return conn

    def _closed(self, conn: object) -> None:
        if conn is self._conn or conn is self._life:
            self.lost.set()

    def broken(self) -> bool:
        """Whether a connection closed under the session, setting `lost` if so. The
        driver does not call its termination listeners on every path (a connection
        ended while a query of its ran was seen closed with `lost` never set), so a
        worker also asks this between its polls."""
        if any(c is not None and c.is_closed() for c in (self._conn, self._life)):
            self.lost.set()
            return True
        return False

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

    async def count(self, query: str, *args: object) -> int:
        """A count over the lock table, asked on the lock session (no pool needed)."""
        return int(await self._live().fetchval(query, *args, timeout=self.timeout))

    async def let_go(self) -> None:
        """Let the lease locks go (they can no longer be told apart from ones nobody
        runs) but keep the life line: the worker's runners may still be running, and
        `close` follows once they stopped."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()
        self.lost.set()

    async def close(self) -> None:
        """Let every lock go: at once, without waiting on a connection that may hang.
        The caller's runners have stopped (or never ran): the life line goes last."""
        conn, self._conn = self._conn, None
        life, self._life = self._life, None
        for each in (conn, life):
            if each is not None and not each.is_closed():
                each.terminate()
