"""The SQLite backend: write database, event log, projection stores and dead letters.

SQLite ships with Python, so this backend needs no extra. A typical embedded wiring::

    db = SqliteDatabase("data/write.db")
    db.call(create_schema)                         # event log and idempotency keys
    writer = SqliteWriter(db, registry, head, savers, sync_projections=[])
    bus = CommandBus(lambda: SqliteUnitOfWork(writer))
    runner = ProjectionRunner(projection, SqliteProjectionStore("data/read.db"),
                              SqliteEventLogReader("data/write.db"), head)
"""

from tandem.db.sqlite import (
    SqliteDatabase,
    SqliteReader,
    checkpoint_wal,
    connect,
    run_script,
    transaction,
)
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.stores.sqlite import SqliteProjection, SqliteProjectionStore
from tandem.stores.sqlite_sync import SyncProjection
from tandem.uow.sqlite import (
    ReaderIdempotency,
    Save,
    SqliteUnitOfWork,
    SqliteWriter,
    create_schema,
)

__all__ = [
    "ReaderIdempotency",
    "Save",
    "SqliteDatabase",
    "SqliteDeadLetters",
    "SqliteEventLogReader",
    "SqliteProjection",
    "SqliteProjectionStore",
    "SqliteReader",
    "SqliteUnitOfWork",
    "SqliteWriter",
    "SyncProjection",
    "checkpoint_wal",
    "connect",
    "create_schema",
    "run_script",
    "transaction",
]
