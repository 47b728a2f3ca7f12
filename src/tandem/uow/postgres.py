"""The unit of work on PostgreSQL: a pooled connection per command, and two ways to
commit.

Writers run concurrently. A command first runs **optimistically**: it reads without
holding anything or opening a transaction, and commits in one statement that is its own
transaction (`tandem.uow.postgres_writes`): it holds the command's aggregates and
idempotency key with non-blocking locks, saves, appends and claims the key, and fails
as a whole, writing nothing, if a lock is taken, a save finds its row moved on, or an
event's aggregate version is already in the log. The command then runs again on the
**locking** path: one transaction in which repositories hold the aggregates the
command may change with advisory transaction locks (never row locks: see
`catalog.write.postgres` for why event positions need that), so commands on one
aggregate queue instead of failing each other's version check.

Either way nothing writes before the locks are held, so a transaction takes its id
only then, and one aggregate's versions ascend with positions: an optimistic statement
that succeeds waited for no other writer of its aggregates, and read them after their
last writer committed, so its id is younger. The event log needs no lock either (see
`tandem.eventlog.postgres`).

Round trips are what a command costs, so an optimistic command with an idempotency key
and one aggregate takes two (the aggregate's row with the key's lookup; the statement
that writes everything), and a locking one five (BEGIN with the key's lock; the
aggregate's lock with the key's lookup; the row; the statement; COMMIT).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Self

import orjson

from tandem.codec import EventRegistry
from tandem.eventlog import postgres as pg_log
from tandem.eventlog.base import MAX_EVENT_BYTES
from tandem.uow import CommandResult, IdempotencyClaim, OptimisticMiss, UnitOfWork
from tandem.uow.idempotency import IdempotencyReplay
from tandem.uow.postgres_writes import Hold, Upsert, Write, write

if TYPE_CHECKING:
    from asyncpg import Record
    from asyncpg.pool import PoolConnectionProxy

    from tandem.db.postgres import Connection, Pool

Save = Callable[[Any, Any], Awaitable[None]]


async def lookup_idempotency(
    conn: Connection | Pool, scope: str, key: str
) -> tuple[str, CommandResult] | None:
    row = await conn.fetchrow(_LOOKUP, scope, key)
    if row is None:
        return None
    return _found(row[0], row[1])


class PostgresIdempotency:
    """Idempotency lookups outside any command's transaction."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def get(self, scope: str, key: str) -> tuple[str, CommandResult] | None:
        return await lookup_idempotency(self._pool, scope, key)


Saver = Save | Upsert

# Aggregates are locked by a 64-bit hash of their id, one statement each transaction
# step, in the order given (callers sort), so two commands sharing aggregates queue
# instead of deadlocking.
_LOCK_AGGREGATES = (
    "SELECT pg_advisory_xact_lock(hashtextextended('aggregate:' || id, 0))"
    " FROM unnest($1::text[]) WITH ORDINALITY AS a(id, n) ORDER BY n"
)
# The same, then the idempotency key's record: the key's lock was taken by an earlier
# statement, so this statement's snapshot already shows a first attempt's commit.
_LOCK_AGGREGATES_AND_LOOKUP = f"""
WITH held AS MATERIALIZED ({_LOCK_AGGREGATES})
SELECT (SELECT count(*) FROM held) AS held, i.fingerprint, i.result::text AS result
FROM (SELECT 1) AS one
LEFT JOIN tandem_idempotency AS i ON i.scope = $2 AND i.key = $3
"""
_LOOKUP = "SELECT fingerprint, result::text FROM tandem_idempotency WHERE scope = $1 AND key = $2"
# A one-row query and the idempotency key's record in one statement: the query's row
# (or NULLs, with `tandem_found` NULL) beside the record (or NULLs).
_WITH_LOOKUP = """
SELECT i.fingerprint AS tandem_fingerprint, i.result::text AS tandem_result, q.*
FROM (SELECT 1) AS one
LEFT JOIN (SELECT true AS tandem_found, q0.* FROM ({sql}) AS q0) AS q ON true
LEFT JOIN tandem_idempotency AS i ON i.scope = ${scope} AND i.key = ${key}
"""


def _key_halves(claim: IdempotencyClaim) -> tuple[int, int]:
    """The advisory lock of one idempotency key, as two 32-bit halves of a hash."""
    digest = hashlib.blake2b(
        claim.scope.encode() + b"\0" + claim.key.encode(), digest_size=8
    ).digest()
    high, low = struct.unpack(">ii", digest)
    return high, low


def _key_lock(claim: IdempotencyClaim) -> str:
    """BEGIN, then the lock queueing retries of one key.

    Sent as one simple query: the statement carries only integers, never the key.
    """
    high, low = _key_halves(claim)
    return f"BEGIN; SELECT pg_advisory_xact_lock({high}, {low})"


class PostgresWriter:
    """Shared parts of every PostgreSQL unit of work: the pool, the codec, the savers."""

    def __init__(
        self,
        pool: Pool,
        registry: EventRegistry,
        savers: Mapping[type, Saver],
        *,
        mode: pg_log.AppendMode = pg_log.AppendMode.HORIZON,
        on_commit: Callable[[int], None] | None = None,
        optimistic: bool = True,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.savers = dict(savers)
        self.mode = mode
        self.max_event_bytes = max_event_bytes
        # Only horizon positions need no lock around the append; the `lock` mode's
        # table lock (and the `unsafe` mode's comparisons) keep the locking path.
        self.optimistic = optimistic and mode is pg_log.AppendMode.HORIZON
        # Told the version of every commit (a local head watch, say).
        self.on_commit = on_commit or (lambda _version: None)
        self.events_appended = 0
        # Optimistic commits that failed their check and ran again on the locking path.
        self.optimistic_misses = 0

    def appended(self) -> int:
        """Events appended through this writer since it was created."""
        return self.events_appended


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work over a `PostgresWriter`. Use one per command.

    The key's record is looked up by the first statement that reads (`hold` on the
    locking path, `fetchrow`, `settle`, or commit), before the command reads anything
    else, and a stored answer raises `IdempotencyReplay`. On the locking path BEGIN
    takes the key's lock first, so retries of one key queue.
    """

    def __init__(self, writer: PostgresWriter) -> None:
        super().__init__()
        self._writer = writer
        self._conn: PoolConnectionProxy[Any] | None = None
        self._open = False
        self._unsettled: IdempotencyClaim | None = None
        self._held: set[str] = set()
        self.optimistic = writer.optimistic

    @property
    def connection(self) -> Connection:
        """The open transaction's connection, for the repositories."""
        assert self._conn is not None, "unit of work is not open"
        return self._conn

    async def __aenter__(self) -> Self:
        conn = await self._writer.pool.acquire()
        self._conn = conn
        self._unsettled = self.idempotency
        if self.optimistic:
            return self
        try:
            claim = self.idempotency
            # Retries of one key queue on its lock; the first attempt's answer is then
            # authoritative, exactly as under the SQLite writer lock.
            await conn.execute("BEGIN" if claim is None else _key_lock(claim))
            self._open = True
            self._unsettled = claim
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        conn, was_open = self._conn, self._open
        self._conn = None
        self._open = False
        self._unsettled = None
        self._held.clear()
        self.reset()
        if conn is None:
            return
        try:
            # A connection the server dropped has no transaction left to roll back; a
            # ROLLBACK would raise over the error that says why (a 503, not a 500).
            if (was_open or conn.is_in_transaction()) and not conn.is_closed():
                await conn.execute("ROLLBACK")
        finally:
            await self._writer.pool.release(conn)

    async def hold(self, ids: Iterable[str]) -> None:
        """Hold aggregates until commit, in id order, without taking a transaction id.

        On the locking path this runs as its own statement: under READ COMMITTED the
        next statement's snapshot is taken after the locks are held, so it sees what
        the previous holder committed. On the optimistic path the aggregates are only
        noted; the commit's statement holds them.
        """
        if self.optimistic:
            self._held.update(ids)
            return
        conn = self.connection
        ordered = sorted(set(ids))
        claim = self._unsettled
        if claim is None:
            await conn.execute(_LOCK_AGGREGATES, ordered)
            return
        row = await conn.fetchrow(_LOCK_AGGREGATES_AND_LOOKUP, ordered, claim.scope, claim.key)
        self._unsettled = None
        assert row is not None
        if row["fingerprint"] is not None:
            raise IdempotencyReplay(*_found(row["fingerprint"], row["result"]))

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        """The row of a query of at most one row, looking up the idempotency key's
        record in the same statement if no statement has yet."""
        claim = self._unsettled
        if claim is None:
            return await self.connection.fetchrow(sql, *args)
        self._unsettled = None
        n = len(args)
        combined = _WITH_LOOKUP.format(sql=sql, scope=n + 1, key=n + 2)
        row = await self.connection.fetchrow(combined, *args, claim.scope, claim.key)
        assert row is not None
        if row["tandem_fingerprint"] is not None:
            raise IdempotencyReplay(*_found(row["tandem_fingerprint"], row["tandem_result"]))
        return row if row["tandem_found"] else None

    async def settle(self) -> None:
        """Look up the idempotency key's record now if no statement has yet."""
        claim = self._unsettled
        if claim is None:
            return
        self._unsettled = None
        found = await lookup_idempotency(self.connection, claim.scope, claim.key)
        if found is not None:
            raise IdempotencyReplay(*found)

    async def commit(
        self, id: str, *, created: bool = False, extra: Mapping[str, Any] | None = None
    ) -> CommandResult:
        """Save tracked aggregates, append their events and store the idempotency
        record, all in one transaction (and, for one-statement saves, in one statement).

        Optimistically, that statement is the transaction; it raises `OptimisticMiss`
        if what the command read moved on, or a saver needs statements of its own.
        """
        writer = self._writer
        conn = self.connection
        await self.settle()
        new_events = self.collect_events(writer.registry)
        writes: list[Write] = []
        for aggregate in self.tracked():
            saver = writer.savers[type(aggregate)]
            if isinstance(saver, Upsert):
                writes.append(saver.build(aggregate))
            elif self.optimistic:
                raise OptimisticMiss(f"{type(aggregate).__name__} saves in statements of its own")
            else:
                await saver(conn, aggregate)
        result = CommandResult(id, 0, created, dict(extra or {}))
        claim = self.idempotency
        hold = None
        if self.optimistic:
            hold = Hold(sorted(self._held), None if claim is None else _key_halves(claim))
        try:
            stored = await write(
                conn,
                writes,
                new_events,
                metadata=self.metadata,
                mode=writer.mode,
                max_event_bytes=writer.max_event_bytes,
                claim=claim,
                result=result,
                hold=hold,
            )
        except OptimisticMiss:
            writer.optimistic_misses += 1
            raise
        if stored:
            result = replace(result, version=stored[-1].position)
        if not self.optimistic:
            await conn.execute("COMMIT")
            self._open = False
        if stored:
            writer.events_appended += len(stored)
            writer.on_commit(result.version)
        return result


def _found(fingerprint: str, result: str) -> tuple[str, CommandResult]:
    return str(fingerprint), CommandResult.from_json(orjson.loads(result))
