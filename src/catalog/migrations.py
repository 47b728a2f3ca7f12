"""Every schema component the services profile's write database needs, in the order
`tandem migrate` applies them: the toolkit's tables, then the catalog's."""

from __future__ import annotations

from catalog.write import postgres_schema
from tandem import leases
from tandem.deadletters import postgres as deadletters
from tandem.eventlog import postgres as event_log
from tandem.migrations import Component
from tandem.rebuilds import postgres as rebuild_registry
from tandem.uow import postgres_writes

MIGRATIONS: list[Component] = [
    event_log.MIGRATIONS,
    postgres_writes.MIGRATIONS,
    leases.MIGRATIONS,
    deadletters.MIGRATIONS,
    rebuild_registry.MIGRATIONS,
    postgres_schema.MIGRATIONS,
]
