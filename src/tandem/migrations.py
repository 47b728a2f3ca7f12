"""Versioned schema migrations for PostgreSQL databases.

Each component (the toolkit's event log, the catalog's write tables, …) owns an ordered
list of migrations. `migrate` applies the missing ones in order, each in its own
transaction together with its row in `tandem_migrations`, under an advisory lock so
that several processes starting at once apply each migration exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandem.db.postgres import Connection

# Any constant works; it only has to be the same in every process.
_LOCK_KEY = 0x74616E64656D  # "tandem"

LEDGER = """
CREATE TABLE IF NOT EXISTS tandem_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class Component:
    """A named, ordered list of migrations."""

    name: str
    migrations: Sequence[Migration]

    def __post_init__(self) -> None:
        versions = [m.version for m in self.migrations]
        if versions != sorted(set(versions)):
            raise ValueError(f"{self.name}: migration versions must increase: {versions}")


async def applied(conn: Connection, component: str) -> set[int]:
    rows = await conn.fetch("SELECT version FROM tandem_migrations WHERE component = $1", component)
    return {int(r["version"]) for r in rows}


async def migrate(conn: Connection, components: Sequence[Component]) -> list[str]:
    """Apply every missing migration; returns `component:version name` of each applied."""
    done: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(LEDGER)
        for component in components:
            present = await applied(conn, component.name)
            for migration in component.migrations:
                if migration.version in present:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO tandem_migrations (component, version, name)"
                        " VALUES ($1, $2, $3)",
                        component.name,
                        migration.version,
                        migration.name,
                    )
                done.append(f"{component.name}:{migration.version} {migration.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return done


async def pending(conn: Connection, components: Sequence[Component]) -> list[str]:
    """The migrations `migrate` would apply (an empty list when the schema is current)."""
    exists = await conn.fetchval("SELECT to_regclass('tandem_migrations') IS NOT NULL")
    missing: list[str] = []
    for component in components:
        present = await applied(conn, component.name) if exists else set()
        missing += [
            f"{component.name}:{m.version} {m.name}"
            for m in component.migrations
            if m.version not in present
        ]
    return missing
