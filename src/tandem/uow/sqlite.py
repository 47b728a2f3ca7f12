"""The unit of work on SQLite: one writer, `BEGIN IMMEDIATE`, one hop to commit."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any, Self, TypeVar

import orjson

from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch
from tandem.db.sqlite import SqliteDatabase, SqliteReader
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.base import MAX_EVENT_BYTES
from tandem.messages import StoredEvent
from tandem.stores.sqlite_sync import SyncProjection
from tandem.uow import CommandResult, IdempotencyClaim, UnitOfWork
from tandem.uow.idempotency import IdempotencyRace, IdempotencyReplay

T = TypeVar("T")
BUSY_WAIT_MS = 10_000

IDEMPOTENCY_SCHEMA = """
CREATE TABLE IF NOT EXISTS tandem_idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
)
"""

Save = Callable[[sqlite3.Connection, Any], None]


def create_schema(conn: sqlite3.Connection) -> None:
    sqlite_log.create_schema(conn)
    conn.execute(IDEMPOTENCY_SCHEMA)


def lookup_idempotency(
    conn: sqlite3.Connection, scope: str, key: str
) -> tuple[str, CommandResult] | None:
    row = conn.execute(
        "SELECT fingerprint, result FROM tandem_idempotency WHERE scope = ? AND key = ?",
        (scope, key),
    ).fetchone()
    if row is None:
        return None
    return str(row[0]), CommandResult.from_json(orjson.loads(row[1]))


class ReaderIdempotency:
    """Idempotency lookups on a read-only connection to the write database, outside
    any command's transaction (the middleware's `store`: the record a racing claim
    lost to)."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get(self, scope: str, key: str) -> tuple[str, CommandResult] | None:
        return await self._reader.run(lambda c: lookup_idempotency(c, scope, key))


class SqliteWriter:
    """Shared parts of every SQLite unit of work: the database, its lock, the watches."""

    def __init__(
        self,
        db: SqliteDatabase,
        registry: EventRegistry,
        head: VersionWatch,
        savers: Mapping[type, Save],
        sync_projections: list[SyncProjection],
        *,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.db = db
        self.registry = registry
        self.head = head
        self.savers = dict(savers)
        self.sync_projections = sync_projections
        self.max_event_bytes = max_event_bytes
        # One writer per database: in-process commands queue here rather than on
        # SQLite's busy timeout; other processes are serialised by BEGIN IMMEDIATE.
        self.lock = asyncio.Lock()
        self.events_appended = 0
        self.background: set[asyncio.Future[None]] = set()
        # Commands run on the event loop's thread: a local WAL commit without fsync
        # costs microseconds, far less than two thread hops under load. So the loop
        # never blocks, BEGIN does not wait (another process's lock sends it to the
        # database thread instead) and checkpoints, which fsync, run elsewhere
        # (`checkpoint_wal`).
        db.call(lambda c: c.execute("PRAGMA busy_timeout=0"))
        db.call(lambda c: c.execute("PRAGMA wal_autocheckpoint=0"))

    def appended(self) -> int:
        """Events appended through this writer since it was created."""
        return self.events_appended

    async def exclusive(
        self,
        fn: Callable[[sqlite3.Connection], T],
        committed: Callable[[T], None] | None = None,
    ) -> T:
        """Run `fn` in a write transaction of its own, queued with the commands (the
        write lock, BEGIN IMMEDIATE, COMMIT), for work that is not a command: a rebuild's
        batches and its switch. `committed` runs right after the COMMIT, still under the
        write lock, so the next command already sees what it changes."""
        async with SqliteUnitOfWork(self) as uow:
            return uow.commit_work(fn, committed)


class SqliteUnitOfWork(UnitOfWork):
    """A unit of work over a `SqliteWriter`. Use one per command."""

    def __init__(self, writer: SqliteWriter) -> None:
        super().__init__()
        self._writer = writer
        self._open = False

    async def __aenter__(self) -> Self:
        writer = self._writer
        await writer.lock.acquire()
        try:
            begun = writer.db.call(_try_begin)
        except BaseException:
            writer.lock.release()
            raise
        if not begun:
            # Another process holds the write lock: wait for it off the event loop.
            begin = asyncio.ensure_future(writer.db.run(_begin_waiting))
            try:
                await asyncio.shield(begin)
            except BaseException:
                # Cancelled (or failed) while the BEGIN waits in the database thread:
                # keep the lock until that BEGIN is over, then undo it.
                cleanup = asyncio.ensure_future(_abandon(writer, begin))
                writer.background.add(cleanup)
                cleanup.add_done_callback(writer.background.discard)
                raise
        self._open = True
        claim = self.idempotency
        if claim is not None:
            # Under the write lock the stored key is authoritative: retries queued
            # behind the first attempt replay its answer instead of running again.
            found = writer.db.call(lambda c: lookup_idempotency(c, claim.scope, claim.key))
            if found is not None:
                await self.__aexit__(None, None, None)
                raise IdempotencyReplay(*found)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._open:
                self._open = False
                self._writer.db.call(_rollback_if_open)
        finally:
            self.reset()
            self._writer.lock.release()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read inside this unit of work's transaction.

        Reads run on the calling thread: the unit of work holds the writer lock, so the
        connection is idle, and a page-cache read takes microseconds, less than a hop
        to the writer thread. BEGIN and COMMIT, which can wait on the file lock or a WAL
        checkpoint, still run in the writer thread.
        """
        assert self._open, "unit of work is not open"
        return self._writer.db.call(fn)

    async def commit(
        self, id: str, *, created: bool = False, extra: Mapping[str, Any] | None = None
    ) -> CommandResult:
        """Save tracked aggregates, append their events, store the idempotency record,
        apply sync projections and COMMIT, all in one transaction."""
        writer = self._writer
        aggregates = self.tracked()
        new_events = self.collect_events(writer.registry)
        claim = self.idempotency
        metadata = self.metadata

        def _commit(conn: sqlite3.Connection) -> tuple[CommandResult, list[StoredEvent]]:
            for aggregate in aggregates:
                writer.savers[type(aggregate)](conn, aggregate)
            stored = sqlite_log.append(conn, new_events, metadata, writer.max_event_bytes)
            version = stored[-1].position if stored else sqlite_log.head(conn)
            result = CommandResult(id, version, created, dict(extra or {}))
            if claim is not None:
                _store_claim(conn, claim, result)
            for projection in writer.sync_projections:
                projection.apply(conn, stored)
            conn.execute("COMMIT")
            self._open = False
            return result, stored

        # Inline, with no await between COMMIT and the advances: nothing can cancel the
        # command between making it durable and making it visible to version waiters.
        result, stored = writer.db.call(_commit)
        if stored:
            _advance(writer, stored)
        return result

    def commit_work(
        self, fn: Callable[[sqlite3.Connection], T], committed: Callable[[T], None] | None
    ) -> T:
        """Run `fn` in this unit of work's transaction and COMMIT (see
        `SqliteWriter.exclusive`); an error leaves the transaction to be rolled back."""
        assert self._open, "unit of work is not open"

        def _run(conn: sqlite3.Connection) -> T:
            result = fn(conn)
            conn.execute("COMMIT")
            self._open = False
            return result

        result = self._writer.db.call(_run)
        if committed is not None:
            committed(result)
        return result


async def _abandon(writer: SqliteWriter, begin: asyncio.Future[None]) -> None:
    try:
        with contextlib.suppress(BaseException):
            await begin
        writer.db.call(_rollback_if_open)
    finally:
        writer.lock.release()


def _advance(writer: SqliteWriter, stored: list[StoredEvent]) -> None:
    writer.events_appended += len(stored)
    for projection in writer.sync_projections:
        projection.committed(stored[-1].position, len(stored))
    writer.head.advance(stored[-1].position)


def _try_begin(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE without waiting (the writer runs with busy_timeout 0)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    return True


def _begin_waiting(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_WAIT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute("PRAGMA busy_timeout=0")


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _store_claim(conn: sqlite3.Connection, claim: IdempotencyClaim, result: CommandResult) -> None:
    try:
        conn.execute(
            "INSERT INTO tandem_idempotency (scope, key, fingerprint, result, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                claim.scope,
                claim.key,
                claim.fingerprint,
                orjson.dumps(result.to_json()),
                time.time(),
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise IdempotencyRace(claim.key) from exc
