"""Projections on DuckDB: columnar read models, change and checkpoint in one transaction.

One writer cursor, owned by one dedicated thread, applies every batch; queries run on
cursors of the same database in a small pool of reader threads. DuckDB's MVCC gives each
query the last committed state, so analytics never see half of a batch.

DuckDB is imported on first use rather than at import time: it takes about as long to
import as the rest of the application, and code that only names a DuckDB projection
(a registry of read models, a `--help`) should not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tandem.errors import StoreInUse
from tandem.files import private_dir, restrict
from tandem.messages import StoredEvent
from tandem.projections import checkpoints
from tandem.projections.base import Projection

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*\(PID (\d+)\)")


class DuckDBTransaction:
    """The open transaction a DuckDB projection writes through.

    `execute` runs one statement at once. `append` queues a row; the queued rows of each
    table go in through one appender just before the next statement and before the
    checkpoint is saved, so they stay inside the same transaction. DuckDB spends a
    fraction of a millisecond on every statement, whatever its size: one INSERT per row
    would cap catch-up near 2,000 rows a second, one appender per table per batch does not.

    >>> tx.append("price_history", (product_id, at, price, position))  # doctest: +SKIP
    >>> tx.execute("SELECT name FROM sales_categories WHERE id = ?", (cid,))  # doctest: +SKIP
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn
        self._pending: dict[str, list[tuple[Any, ...]]] = {}

    def execute(
        self, sql: str, parameters: Sequence[Any] | None = None, /
    ) -> duckdb.DuckDBPyConnection:
        """Run one statement after the queued rows, so it sees (and can change) them.

        Returns the connection to fetch from; fetch before the next `execute` or
        `flush`, which end the previous result.
        """
        self.flush()
        return self._conn.execute(sql, parameters)

    def append(self, table: str, row: tuple[Any, ...]) -> None:
        """Queue one row, its values in the table's declared column order."""
        self._pending.setdefault(table, []).append(row)

    def flush(self) -> None:
        """Write every queued row now (still inside the transaction)."""
        if not self._pending:
            return
        # An appender will not start while a SELECT's result is only partly fetched (a
        # `fetchone()` of a one-row answer leaves it open), so finish that result first.
        self._conn.complete()
        pending, self._pending = self._pending, {}
        for table, rows in pending.items():
            with self._conn.appender(table) as appender:
                appender.append_rows(rows)


DuckDBProjection = Projection[DuckDBTransaction]


@contextlib.contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A COMMIT that failed has already ended the transaction; the error worth
        # reporting is the one that got us here, not "no transaction is active".
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise


def _setup(conn: duckdb.DuckDBPyConnection, projection: DuckDBProjection) -> int:
    tx = DuckDBTransaction(conn)
    with _transaction(conn):
        tx.execute(checkpoints.CHECKPOINT_TABLE)
        projection.setup(tx)
        return checkpoints.load(tx, projection.name)


def _apply(
    conn: duckdb.DuckDBPyConnection, projection: DuckDBProjection, events: list[StoredEvent]
) -> int:
    tx = DuckDBTransaction(conn)
    with _transaction(conn):
        # Saving the checkpoint is an `execute`, which flushes the queued appender rows
        # first, so they commit together with it.
        return checkpoints.apply_past(tx, projection, events)


def _apply_parked(
    conn: duckdb.DuckDBPyConnection, projection: DuckDBProjection, events: list[StoredEvent]
) -> None:
    tx = DuckDBTransaction(conn)
    with _transaction(conn):
        checkpoints.apply_again(tx, projection, events)
        tx.flush()


# What each DuckDB file's buffer pool may hold in memory.
MEMORY_LIMIT = "48MB"
# Every store of this process that is open, for the memory it reports (`memory_bytes`).
_OPEN: weakref.WeakSet[DuckDBProjectionStore] = weakref.WeakSet()


class DuckDBProjectionStore:
    """A DuckDB file holding one or more columnar read models and their checkpoints.

    Writes go through `setup` and `apply` on the store's writer thread; queries go
    through `run` (on a reader thread) or `call` (in the calling thread), each handed a
    cursor of its own.

    >>> store = DuckDBProjectionStore("data/read/sales_analytics.duckdb")  # doctest: +SKIP
    >>> await store.setup(projection)                                      # doctest: +SKIP
    >>> await store.apply(projection, events)                              # doctest: +SKIP
    >>> await store.run(lambda cur: cur.execute("SELECT 42").fetchone())   # doctest: +SKIP
    """

    kind = "duckdb"

    def __init__(self, path: str | Path, *, read_threads: int = 4) -> None:
        self.path = Path(path)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"duckdb:{path}")
        self._readers = ThreadPoolExecutor(
            max_workers=read_threads, thread_name_prefix=f"duckdb-read:{path}"
        )
        self._lock = threading.Lock()
        self._local = threading.local()
        self._root: duckdb.DuckDBPyConnection | None = None
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._closed = False

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own cursor: a DuckDB connection object is not thread-safe."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is not None:
            return cursor
        with self._lock:
            if self._closed:
                raise RuntimeError(f"DuckDB store {self.path} is closed")
            if self._root is None:
                private_dir(self.path.parent)
                self._root = _connect(self.path)
                # DuckDB makes its files as the umask says, and has no setting for it.
                restrict(self.path)
            # The root connection only hands out cursors and never runs a statement, so
            # no two threads ever share one connection object.
            cursor = self._root.cursor()
            self._cursors.append(cursor)
            _OPEN.add(self)
        self._local.cursor = cursor
        return cursor

    async def _write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._written, fn)

    def _written(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`fn`'s writes, and the journal DuckDB made anew for them (after each checkpoint
        it removes the journal, and the next write makes one as the umask says) made
        private at once (inside the 0700 folder it is made in, never readable by others
        meanwhile)."""
        try:
            return fn(self._cursor())
        finally:
            restrict(Path(f"{self.path}.wal"))

    async def setup(self, projection: DuckDBProjection) -> int:
        return await self._write(lambda c: _setup(c, projection))

    async def apply(self, projection: DuckDBProjection, events: list[StoredEvent]) -> int:
        return await self._write(lambda c: _apply(c, projection, events))

    async def apply_parked(self, projection: DuckDBProjection, events: list[StoredEvent]) -> None:
        """Apply parked events again in one transaction; the checkpoint stays."""
        await self._write(lambda c: _apply_parked(c, projection, events))

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run a query function on this thread's cursor, in the calling thread.

        The function's last result is run to its end afterwards: a result only partly
        fetched (a `fetchone()` of a one-row answer) keeps its transaction open, and
        DuckDB keeps every later transaction's undo data for as long as one is open
        (the process grew by about 1 KB per command until a cursor ran again).
        """
        cursor = self._cursor()
        try:
            return fn(cursor)
        finally:
            cursor.complete()

    async def run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run a query function on a reader thread, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.call, fn)

    async def stored_checkpoint(self, name: str) -> tuple[int, int] | None:
        """(position, version) stored for `name`, read without the projection's code."""
        return await self.run(lambda c: checkpoints.stored(c, name))

    def memory_bytes(self) -> int:
        """What DuckDB holds in memory for this file now (0 before it is opened)."""
        with self._lock:
            if self._root is None or self._closed:
                return 0
            cursor = self._root.cursor()
        try:
            found = cursor.execute(
                "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
            ).fetchone()
            return int(found[0]) if found else 0
        finally:
            cursor.close()

    def close(self) -> None:
        _OPEN.discard(self)
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        with self._lock:
            self._closed = True
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
            if self._root is not None:
                self._root.close()
                self._root = None


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """The one connection of this process to the file at `path`."""
    import duckdb

    try:
        # Read models here are small and fed in batches: DuckDB's own worker threads
        # would only compete with the application for the same cores. Its buffer pool
        # keeps every block it read or wrote up to the limit, 80% of the machine's
        # memory unless told: here, a bounded share of an API process, the rest read
        # from the file again when needed.
        return duckdb.connect(str(path), config={"threads": 1, "memory_limit": MEMORY_LIMIT})
    except duckdb.IOException as exc:
        # "Could not set lock on file …: Conflicting lock is held in … (PID 123)."
        held = _LOCK_HOLDER.search(str(exc))
        if held is None:
            raise
        raise StoreInUse(str(path), f"PID {held.group(1)}") from exc


def memory_by_file() -> list[tuple[str, int]]:
    """(file name, bytes DuckDB holds for it) of every open store of this process."""
    return sorted((store.path.name, store.memory_bytes()) for store in list(_OPEN))
