"""The PostgreSQL backend: write database, gap-safe event log, projection store,
dead letters and schema migrations (the `postgres` extra: asyncpg).

The driver is imported when a pool is made; importing this module only checks that it
is installed. A typical wiring::

    pool = await create_pool("postgresql://…/app")
    async with pool.acquire() as conn:
        await migrate(conn, [*TOOLKIT_MIGRATIONS, my_schema])
    writer = PostgresWriter(pool, registry, savers, on_commit=head.advance)
    bus = CommandBus(lambda: PostgresUnitOfWork(writer))
    runner = ProjectionRunner(projection, PostgresProjectionStore(pool),
                              PostgresEventLog(pool), head)
"""

from tandem.extras import require

require("asyncpg", extra="postgres", needed_by="tandem.postgres")

from tandem.db.postgres import Connection, Listener, Pool, create_pool  # noqa: E402
from tandem.deadletters.postgres import MIGRATIONS as DEAD_LETTER_MIGRATIONS  # noqa: E402
from tandem.deadletters.postgres import PostgresDeadLetters  # noqa: E402
from tandem.eventlog.postgres import MIGRATIONS as EVENT_LOG_MIGRATIONS  # noqa: E402
from tandem.eventlog.postgres import (  # noqa: E402
    AppendMode,
    CommitAnnouncer,
    PostgresEventLog,
    VisibleHead,
)
from tandem.migrations import Component, Migration, migrate, pending  # noqa: E402
from tandem.stores.postgres import (  # noqa: E402
    PostgresProjection,
    PostgresProjectionStore,
    table_prefix,
    tables_ready,
)
from tandem.uow.postgres import (  # noqa: E402
    PostgresIdempotency,
    PostgresUnitOfWork,
    PostgresWriter,
    Saver,
)
from tandem.uow.postgres_writes import MIGRATIONS as WRITE_MIGRATIONS  # noqa: E402
from tandem.uow.postgres_writes import Upsert, Write  # noqa: E402

TOOLKIT_MIGRATIONS: list[Component] = [
    EVENT_LOG_MIGRATIONS,
    WRITE_MIGRATIONS,
    DEAD_LETTER_MIGRATIONS,
]
"""The toolkit's own tables (event log, idempotency keys, optimistic commits, dead
letters), to migrate before an application's components."""

__all__ = [
    "TOOLKIT_MIGRATIONS",
    "AppendMode",
    "CommitAnnouncer",
    "Component",
    "Connection",
    "Listener",
    "Migration",
    "Pool",
    "PostgresDeadLetters",
    "PostgresEventLog",
    "PostgresIdempotency",
    "PostgresProjection",
    "PostgresProjectionStore",
    "PostgresUnitOfWork",
    "PostgresWriter",
    "Saver",
    "Upsert",
    "VisibleHead",
    "Write",
    "create_pool",
    "migrate",
    "pending",
    "table_prefix",
    "tables_ready",
]
