"""Leases: which worker runs which projection, taken over within seconds of a death.

Workers heartbeat into `tandem_workers` and hold time-limited leases in `tandem_leases`
(both in the write database). Each worker takes free or expired leases up to its fair
share (projections ÷ live workers, rounded up) and gives back what it holds beyond it,
so work spreads out as workers join and is taken over when one stops renewing.

A lease is an efficiency device, not the safety net: stores refuse a batch whose
checkpoint moved under it, so a worker that lost its lease without knowing cannot apply
anything twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tandem.migrations import Component, Migration

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

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
    ],
)


@dataclass(frozen=True)
class LeaseChanges:
    acquired: list[str]
    lost: list[str]


class Leases:
    """One worker's view of the lease table."""

    def __init__(self, pool: Pool, worker_id: str, *, ttl: float = 5.0) -> None:
        self.pool = pool
        self.worker_id = worker_id
        self.ttl = ttl
        self.held: set[str] = set()

    async def rebalance(self, names: Sequence[str]) -> LeaseChanges:
        """Heartbeat, renew what is held, take or give back leases toward a fair share.

        Returns what this call acquired and what it no longer holds.
        """
        ttl = float(self.ttl)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO tandem_workers (id, seen_at) VALUES ($1, now())"
                " ON CONFLICT (id) DO UPDATE SET seen_at = now()",
                self.worker_id,
            )
            live = await conn.fetchval(
                "SELECT count(*) FROM tandem_workers"
                " WHERE seen_at > now() - make_interval(secs => $1)",
                ttl,
            )
            share = math.ceil(len(names) / max(1, int(live)))
            renewed = await conn.fetch(
                "UPDATE tandem_leases SET expires_at = now() + make_interval(secs => $2)"
                " WHERE owner = $1 AND name = ANY($3::text[]) RETURNING name",
                self.worker_id,
                ttl,
                list(names),
            )
            held = sorted(r["name"] for r in renewed)
            for name in held[share:]:
                await conn.execute(
                    "DELETE FROM tandem_leases WHERE name = $1 AND owner = $2", name, self.worker_id
                )
            held = held[:share]
            for name in names:
                if len(held) >= share:
                    break
                if name in held:
                    continue
                taken = await conn.fetchval(
                    "INSERT INTO tandem_leases (name, owner, expires_at)"
                    " VALUES ($1, $2, now() + make_interval(secs => $3))"
                    " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
                    " expires_at = excluded.expires_at"
                    " WHERE tandem_leases.expires_at < now() RETURNING name",
                    name,
                    self.worker_id,
                    ttl,
                )
                if taken is not None:
                    held.append(str(taken))
        now_held = set(held)
        changes = LeaseChanges(sorted(now_held - self.held), sorted(self.held - now_held))
        self.held = now_held
        return changes

    async def release_all(self) -> None:
        """Give every lease back at once (a clean shutdown), so others take over now."""
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM tandem_leases WHERE owner = $1", self.worker_id)
            await conn.execute("DELETE FROM tandem_workers WHERE id = $1", self.worker_id)
        self.held = set()
