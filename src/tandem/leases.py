"""Leases: which worker runs which projection, taken over at once when a worker dies.

A lease is held by a session advisory lock on the worker's lock session
(`tandem.leaselocks`): PostgreSQL releases it the moment the worker's process dies, so
another worker takes it within its poll interval. Workers also heartbeat into
`tandem_workers` and keep a timed row per lease in `tandem_leases` (both in the write
database); the time limit is for a worker that is alive but cut off from the database,
whose connection (and locks) may outlive it half-open for a while. Such a worker stops
its runners on its own before its heartbeat is `ttl` old (`fence_after`); once it is,
the next worker that wants one of its leases ends its lock session and takes over.

A lease whose lock is free while its row still names another owner whose time has not
run out is an orphan: its worker died, or its lock session was ended under it while it
lives. While the owner's life line (`tandem.leaselocks`) holds, the owner is alive and
stopping its runners: the lease waits for the line to go (or the row to run out), so
two runners of one projection never overlap however long stopping takes. Once the line
is gone too, the owner died, or stopped and let go, or both its connections were ended
under it at once (a mass `pg_terminate_backend`, a server restart), which looks the
same: a worker then still waits `grace` (0.3 s), time for a live owner, told by the
same closed connections, to stop its runners.

Each worker takes free leases up to its fair share (projections ÷ live workers, rounded
up, where a live worker heartbeats and holds its own lock) and gives back what it holds
beyond it (`surplus`, after stopping those runners), so work spreads out as workers
join and is taken over when one dies.

A lease keeps two runners of one projection apart; it is not the only safety net: stores
refuse a batch whose checkpoint moved under it, so a batch in flight when its worker
lost its lease cannot be applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tandem.leaselocks import LEASE_SPACE, LIFE_SPACE, WORKER_SPACE, LockSession
from tandem.migrations import Component, Migration

if TYPE_CHECKING:
    from asyncpg import Record

    from tandem.db.postgres import Connection, Pool

log = logging.getLogger("tandem.leases")

MIGRATIONS = Component(
    "tandem_leases",
    [
        Migration(
            1,
            "workers and leases",
            """
            CREATE TABLE tandem_workers (
                id TEXT PRIMARY KEY,
                seen_at TIMESTAMPTZ NOT NULL
            );
            CREATE TABLE tandem_leases (
                name TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL
            );
            """,
        ),
        Migration(
            2,
            "projection status reported by workers",
            """
            CREATE TABLE tandem_projection_status (
                name TEXT PRIMARY KEY,
                worker TEXT NOT NULL,
                state TEXT NOT NULL,
                checkpoint BIGINT NOT NULL,
                error TEXT,
                events_applied BIGINT NOT NULL,
                lag_seconds DOUBLE PRECISION NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL
            );
            """,
        ),
        Migration(
            3,
            "who holds which advisory lock",
            """
            CREATE VIEW tandem_advisory_holders AS
            SELECT (classid::bigint << 32) | objid::bigint AS key, pid
            FROM pg_locks
            WHERE locktype = 'advisory' AND objsubid = 1 AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database());
            """,
        ),
    ],
)


@dataclass(frozen=True)
class LeaseChanges:
    """What a rebalance changed: leases taken, and leases to give back
    (`Leases.give_back`) once their runners have stopped."""

    acquired: list[str]
    surplus: list[str] = field(default_factory=list)


class LeasesLost(ConnectionError):
    """The lock session closed while leases were held: others may take them once the
    worker's life line goes. Stop their runners, then `Leases.drop`."""


# Seconds after which a worker not heard from is forgotten: its lock session, closed by
# the server's keepalives within seconds, is long gone.
FORGET_AFTER = 3600.0

# A worker is live while it heartbeats and its lock session holds its own lock.
_LIVE = f"""
    w.seen_at > now() - make_interval(secs => $1) AND EXISTS (
        SELECT 1 FROM tandem_advisory_holders wh
        WHERE wh.key = hashtextextended('{WORKER_SPACE}' || w.id, 0)
        {{holder}})
"""

_LIVE_WORKERS = f"SELECT count(*) FROM tandem_workers w WHERE {_LIVE.format(holder='')}"

# Whether lease row `l` names another owner than `{me}` whose time has not run out (an
# orphan, if its lock is free: see `Leases.grace`).
_ORPHANED = "coalesce(l.owner <> {me} AND l.expires_at > now(), false)"

# Whether that owner's life line holds too: an orphan to wait for (see the module's
# docstring).
_WAITING = f"""
    ({_ORPHANED} AND EXISTS (
        SELECT 1 FROM tandem_advisory_holders lh
        WHERE lh.key = hashtextextended('{LIFE_SPACE}' || l.owner, 0)))
"""

# Each lease not held by this worker: the session that locks it, if any, whether that
# session is a worker's lock session at all, and a live one, whether its row names
# another owner whose time has not run out, and whether that owner is still stopping.
_HOLDERS = f"""
    SELECT n.name, h.pid,
        EXISTS (
            SELECT 1 FROM tandem_workers w JOIN tandem_advisory_holders wh
              ON wh.key = hashtextextended('{WORKER_SPACE}' || w.id, 0)
            WHERE wh.pid = h.pid) AS worker_session,
        EXISTS (
            SELECT 1 FROM tandem_workers w
            WHERE {_LIVE.format(holder="AND wh.pid = h.pid")}) AS live,
        {_ORPHANED.format(me="$3")} AS orphaned,
        {_WAITING.format(me="$3")} AS waiting
    FROM unnest($2::text[]) WITH ORDINALITY AS n(name, i)
    LEFT JOIN tandem_advisory_holders h
      ON h.key = hashtextextended('{LEASE_SPACE}' || n.name, 0)
    LEFT JOIN tandem_leases l ON l.name = n.name
    ORDER BY n.i
"""

# How many of the leases $1 worker $2 may take now: no session locks it, and it is not
# an orphan whose owner is still stopping.
_VACANT = f"""
    SELECT count(*) FROM unnest($1::text[]) AS n(name)
    LEFT JOIN tandem_leases l ON l.name = n.name
    WHERE NOT EXISTS (
        SELECT 1 FROM tandem_advisory_holders h
        WHERE h.key = hashtextextended('{LEASE_SPACE}' || n.name, 0))
      AND NOT {_WAITING.format(me="$2")}
"""

_CLAIM = (
    "INSERT INTO tandem_leases (name, owner, expires_at)"
    " SELECT n, $2, now() + make_interval(secs => $3) FROM unnest($1::text[]) n"
    " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
)


class Leases:
    """One worker's view of the lease table, and its lock session.

    `url` is the write database's: the lock session is a connection of its own.
    """

    def __init__(
        self, pool: Pool, worker_id: str, *, url: str, ttl: float = 5.0, grace: float = 0.3
    ) -> None:
        self.pool = pool
        self.base_id = worker_id
        self.worker_id = worker_id
        self.ttl = ttl
        # A worker stops its runners when its last heartbeat is this old without a
        # newer one, before others may count it dead (at `ttl`).
        self.fence_after = ttl * 0.8
        # An orphan whose owner's life line is gone too is taken only once it has been
        # free this long: if its owner lives (both its connections were ended under it),
        # it has stopped its runners by then.
        self.grace = grace
        self._orphaned: dict[str, float] = {}
        self.held: set[str] = set()
        self.session = LockSession(url)
        self._sessions = 0

    @property
    def lost(self) -> asyncio.Event:
        """Set when the lock session closed under the worker: it holds nothing now
        (see `LeasesLost`)."""
        return self.session.lost

    async def rebalance(self, names: Sequence[str]) -> LeaseChanges:
        """Heartbeat, renew what is held, take free leases up to a fair share, and name
        what is held beyond it.

        Returns what this call acquired and the surplus for `give_back`; raises
        `LeasesLost` if the lock session closed under held leases.
        """
        opened = not self.session.alive
        await self._ensure_session()
        ttl = float(self.ttl)
        async with self.pool.acquire() as conn, conn.transaction():
            if opened:  # each process and lock session adds a row: forget the long dead
                await conn.execute(
                    "DELETE FROM tandem_workers WHERE seen_at < now() - make_interval(secs => $1)",
                    FORGET_AFTER,
                )
            await conn.execute(
                "INSERT INTO tandem_workers (id, seen_at) VALUES ($1, now())"
                " ON CONFLICT (id) DO UPDATE SET seen_at = now()",
                self.worker_id,
            )
            live = int(await conn.fetchval(_LIVE_WORKERS, ttl))
            share = math.ceil(len(names) / max(1, live))
            kept = [name for name in names if name in self.held][:share]
            await conn.execute(_CLAIM, kept, self.worker_id, ttl)
            wanted = share - len(kept)
            others = [n for n in names if n not in self.held]
            holders = (
                await conn.fetch(_HOLDERS, ttl, others, self.worker_id)
                if wanted > 0 and others
                else []
            )
        surplus = sorted(self.held - set(kept))
        try:
            acquired = await self._take(holders, wanted)
        except BaseException:
            # A lock may be taken with no one told to run its projection: let every
            # lock go (the worker stops its runners) rather than keep one unseen.
            await self.session.let_go()
            raise
        self.held.update(acquired)
        return LeaseChanges(acquired, surplus)

    async def _take(self, holders: Sequence[Record], wanted: int) -> list[str]:
        """Lock free leases up to `wanted` and claim their rows; end the lock sessions
        of workers that stopped heartbeating, whose leases are free next round."""
        acquired: list[str] = []
        now = time.monotonic()
        orphaned: dict[str, float] = {}
        ended: set[int] = set()
        for row in holders:
            if len(acquired) >= wanted:
                break
            name = row["name"]
            if row["pid"] is None:
                if row["waiting"]:
                    continue
                if row["orphaned"]:
                    orphaned[name] = self._orphaned.get(name, now)
                    if now - orphaned[name] < self.grace:
                        continue
                if await self.session.try_lock(name):
                    acquired.append(name)
                    orphaned.pop(name, None)
            elif row["worker_session"] and not row["live"] and row["pid"] not in ended:
                ended.add(row["pid"])
                await self._end_stale_session(int(row["pid"]), name)
        self._orphaned = orphaned
        if acquired:
            async with self.pool.acquire() as conn:
                await conn.execute(_CLAIM, acquired, self.worker_id, float(self.ttl))
        return acquired

    async def give_back(self, names: Sequence[str]) -> None:
        """Hand leases over (their runners have stopped): others may take them now."""
        if not names:
            return
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM tandem_leases WHERE name = ANY($1::text[]) AND owner = $2",
                list(names),
                self.worker_id,
            )
        self.held.difference_update(names)
        try:
            await self.session.unlock(names)
        except Exception:
            # Locks this worker cannot let go of would keep their leases from anyone:
            # let every lock go with the session (the worker stops its runners).
            await self.session.let_go()
            raise

    async def vacant(self, names: Sequence[str]) -> bool:
        """Whether a rebalance may take one of `names` now: one no session locks, not
        an orphan whose owner is still stopping, nor one in its grace (`due` says when
        that ends)."""
        free = [name for name in names if name not in self._orphaned]
        return bool(free) and await self.session.count(_VACANT, free, self.worker_id) > 0

    def due(self) -> float | None:
        """When (monotonic) the grace of the first orphan seen ends, if any is waiting."""
        if not self._orphaned:
            return None
        return min(self._orphaned.values()) + self.grace

    async def drop(self) -> None:
        """Let every lease go with the lock session and the life line (a worker that
        stopped its runners because it could not renew them, or lost them)."""
        self.held = set()
        await self.session.close()

    async def release_all(self) -> None:
        """Give every lease back at once (a clean shutdown), so others take over now."""
        self.held = set()
        try:
            async with self.pool.acquire() as conn:
                await conn.execute("DELETE FROM tandem_leases WHERE owner = $1", self.worker_id)
                await conn.execute("DELETE FROM tandem_workers WHERE id = $1", self.worker_id)
        finally:
            await self.session.close()

    async def _ensure_session(self) -> None:
        """Open the lock session if it is not; refuse while leases held on one that
        closed may still have runners (`LeasesLost`)."""
        if self.session.alive:
            return
        if self.held:
            self.session.lost.set()
            raise LeasesLost(f"the lock session closed under {', '.join(sorted(self.held))}")
        if self._sessions:
            # The old session may linger half-open with the old id's locks: a new id
            # keeps the two apart until it is found stale and ended.
            self.worker_id = f"{self.base_id}.{self._sessions}"
        await self.session.open(self.worker_id)
        self._sessions += 1

    async def _end_stale_session(self, pid: int, name: str) -> None:
        log.warning(
            "worker %s: ending lock session %s of a worker not heard from in %.1f s (holds %s)",
            self.worker_id,
            pid,
            self.ttl,
            name,
        )
        async with self.pool.acquire() as conn:
            await _terminate(conn, pid)


async def _terminate(conn: Connection, pid: int) -> None:
    try:
        await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    except Exception as exc:  # not allowed to: it goes with its keepalives instead
        log.warning("cannot end lock session %s: %s", pid, exc)
