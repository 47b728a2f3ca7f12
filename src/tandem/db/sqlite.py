"""SQLite behind asyncio: one connection, one thread, whole transactions per hop.

SQLite allows one writer at a time, so each database gets a single connection owned by
a dedicated thread. Callers hand it a synchronous function that runs a whole
transaction; one thread hop per transaction keeps the event loop free without paying a
hop per statement.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tandem.consistency import VersionWatch
from tandem.files import private_dir, private_file

T = TypeVar("T")

# SQLite page cache per connection, in KiB.
WRITER_CACHE_KIB = 16384
READER_CACHE_KIB = 8192

# WAL frames (of a page each) past which the checkpointer stops the writer for a moment,
# so that a checkpoint can take in every frame and the next write starts the WAL over.
RESTART_FRAMES = 4096
# What a writer leaves of its WAL file on disk when the WAL starts over, in bytes.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection tuned for an application database in WAL mode."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        private_file(Path(path))
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process; only an OS crash can lose the
    # newest commits, which the embedded profile accepts for write speed.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    # The writer of a file keeps a large page cache of its own. Readers are one per
    # reader thread, several per file: each with a large cache, they would hold the
    # same pages several times over (the search file of 100,000 products took the
    # process from 140 to 270 MB); the operating system's page cache, shared by all,
    # serves what their small ones miss.
    conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB if readonly else WRITER_CACHE_KIB}")
    if not readonly:
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    conn.row_factory = sqlite3.Row
    return conn


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated DDL inside the caller's transaction.

    `executescript` would COMMIT first, breaking the one-transaction setup of a read
    model and its checkpoint table.
    """
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[None]:
    """BEGIN (IMMEDIATE by default, taking the write lock at once) … COMMIT or ROLLBACK."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteDatabase:
    """One SQLite file served by one thread.

    >>> db = SqliteDatabase("app.db")          # doctest: +SKIP
    >>> await db.run(lambda c: c.execute("select 1").fetchone())  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, inline: bool = False) -> None:
        self.path = Path(path)
        # Inline databases run on the caller's thread: for small local transactions
        # that is cheaper than the GIL hand-offs of a thread hop, at the price of
        # holding the event loop for the transaction's duration.
        self.inline = inline
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite:{path}")
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            private_dir(self.path.parent)
            self._conn = connect(self.path)
        return self._conn

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on this database's connection in the calling thread (startup, tools)."""
        with self._lock:
            return fn(self._connection())

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` with the connection in this database's thread."""
        if self.inline:
            return self.call(fn)
        return await self.run_long(fn)

    async def run_long(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in this database's thread even when it is inline: for work that
        takes too long to hold the event loop (settling a read model)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, fn)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(self.call, lambda _c: _close()).result()
        self._executor.shutdown(wait=True)


async def checkpoint_wal(
    path: str | Path,
    head: VersionWatch,
    interval: float = 0.5,
    *,
    writes: AbstractAsyncContextManager[Any] | None = None,
    restart_frames: int = RESTART_FRAMES,
) -> None:
    """Move committed WAL frames into the database file, off the event loop.

    The writer disables automatic checkpoints (they fsync inside a commit); this task
    runs a PASSIVE checkpoint, which never blocks readers or the writer, at most every
    `interval` seconds while the log grows.

    SQLite starts the WAL over (writes from its beginning again) only at a write that
    finds every frame already checkpointed, and under a steady stream of commits a
    concurrent checkpoint never catches the last one: the WAL, and the shared-memory
    index every connection maps, would grow for as long as the writes go on (5 GB in
    80 seconds of the write benchmark). So once the WAL holds more than `restart_frames`
    frames, the next checkpoint runs holding `writes` (the writer's lock, taken in turn
    with the commands): it takes in the few frames the last one left, and the next
    command starts the WAL over.
    """
    conn = connect(path)
    # The connection lives on one thread of its own. A cancelled task must not close
    # it while a checkpoint still runs there (closing a connection in use crashes the
    # process), so the close queues behind the checkpoint on that same thread.
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-wal:{path}")
    loop = asyncio.get_running_loop()

    def checkpoint() -> int:
        """A PASSIVE checkpoint; the frames the WAL holds."""
        _busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)

    seen = head.value
    try:
        while True:
            await head.wait_for(seen + 1)
            seen = head.value
            await asyncio.sleep(interval)
            frames = await loop.run_in_executor(thread, checkpoint)
            if writes is not None and frames > restart_frames:
                async with writes:
                    await loop.run_in_executor(thread, checkpoint)
    finally:
        thread.submit(conn.close)
        thread.shutdown(wait=False)


def reader_threads() -> int:
    """Reader threads per file by default: one per core, from 2 to 4.

    A query's own work runs without the GIL, so readers on every core run at once; a
    thread more than there are cores only waits for the GIL with the others. On two
    cores, the search of 100,000 products answered 10-20% more requests with two
    threads than with four, at a lower p99.
    """
    return max(2, min(4, os.cpu_count() or 2))


class SqliteReader:
    """Read-only connections for queries, one per worker thread, beside the writer."""

    def __init__(
        self, path: str | Path, *, threads: int | None = None, inline: bool = False
    ) -> None:
        self.path = Path(path)
        self.inline = inline
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(
            max_workers=threads or reader_threads(), thread_name_prefix="sqlite-read"
        )
        self._all: list[sqlite3.Connection] = []

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            self._all.append(conn)
        return conn

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._connection())

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.inline:
            return self.call(fn)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for conn in self._all:
            conn.close()
        self._all.clear()
