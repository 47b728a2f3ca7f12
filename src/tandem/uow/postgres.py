"""The unit of work on PostgreSQL: a pooled connection, one transaction per command.

Writers run concurrently. Repositories hold the aggregates a command changes with
advisory transaction locks (never row locks: see `catalog.write.postgres`
for why event positions need that), so two commands on the same aggregate queue
instead of failing each other's version check; commands on different aggregates never
wait for each other. Nothing here writes before commit, so a transaction takes its id
only once every lock is held. The event log needs no lock either (see
`tandem.eventlog.postgres`).

Round trips are what a command costs here, so a command with an idempotency key and
one aggregate takes five: BEGIN with the key's lock; the aggregate's lock with the
key's lookup; the aggregate's row; every save, the events and the key's record in one
statement; COMMIT.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Self

import orjson

from tandem.codec import EventRegistry
from tandem.errors import ConcurrencyConflict
from tandem.eventlog import postgres as pg_log
from tandem.eventlog.base import NewEvent
from tandem.messages import StoredEvent
from tandem.uow import CommandResult, IdempotencyClaim, UnitOfWork
from tandem.uow.idempotency import IdempotencyRace, IdempotencyReplay

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class Write:
    """One aggregate's save as a single INSERT … ON CONFLICT DO UPDATE … WHERE statement.

    The statement must change exactly one row (the stored version is older) and end
    without RETURNING; `unique` maps a unique constraint it may violate to the error
    that violation means.
    """

    sql: str
    args: tuple[Any, ...]
    aggregate_id: str
    version: int
    unique: Mapping[str, Callable[[], Exception]] = field(default_factory=dict)

    def failed(self, exc: Exception) -> Exception | None:
        """The domain error a unique violation from this statement stands for."""
        make = self.unique.get(getattr(exc, "constraint_name", None) or "")
        return make() if make is not None else None


class Upsert:
    """A saver whose save is one `Write`, so commit can join it to the append.

    Called like any other saver (`await saver(conn, aggregate)`), it runs the statement
    on its own.
    """

    def __init__(self, build: Callable[[Any], Write]) -> None:
        self.build = build

    async def __call__(self, conn: Connection, aggregate: Any) -> None:
        import asyncpg

        write = self.build(aggregate)
        try:
            status = await conn.execute(write.sql, *write.args)
        except asyncpg.UniqueViolationError as exc:
            raise (write.failed(exc) or exc) from exc
        # asyncpg reports "INSERT 0 <rows>" for INSERT … ON CONFLICT DO UPDATE … WHERE.
        if not status.endswith(" 1"):
            raise ConcurrencyConflict(write.aggregate_id, write.version, -1)


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


def _key_lock(claim: IdempotencyClaim) -> str:
    """BEGIN, then the lock queueing retries of one key (two 32-bit halves of a hash).

    Sent as one simple query: the statement carries only integers, never the key.
    """
    digest = hashlib.blake2b(
        claim.scope.encode() + b"\0" + claim.key.encode(), digest_size=8
    ).digest()
    high, low = struct.unpack(">ii", digest)
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
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.savers = dict(savers)
        self.mode = mode
        # Told the version of every commit (a local head watch, say).
        self.on_commit = on_commit or (lambda _version: None)
        self.events_appended = 0

    def appended(self) -> int:
        """Events appended through this writer since it was created."""
        return self.events_appended


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work over a `PostgresWriter`. Use one per command.

    With an idempotency key, BEGIN takes the key's lock; the key's record is looked up
    by the first statement that follows (`hold`, `settle`, or commit), before the
    command reads anything, and a stored answer raises `IdempotencyReplay`.
    """

    def __init__(self, writer: PostgresWriter) -> None:
        super().__init__()
        self._writer = writer
        self._conn: PoolConnectionProxy[Any] | None = None
        self._open = False
        self._unsettled: IdempotencyClaim | None = None

    @property
    def connection(self) -> Connection:
        """The open transaction's connection, for the repositories."""
        assert self._conn is not None, "unit of work is not open"
        return self._conn

    async def __aenter__(self) -> Self:
        conn = await self._writer.pool.acquire()
        self._conn = conn
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

        Runs as its own statement: under READ COMMITTED the next statement's snapshot is
        taken after the locks are held, so it sees what the previous holder committed.
        """
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
        """Save tracked aggregates, append their events, store the idempotency record
        and COMMIT, all in one transaction (and, for one-statement saves, in one
        statement before the COMMIT)."""
        writer = self._writer
        conn = self.connection
        await self.settle()
        new_events = self.collect_events(writer.registry)
        writes: list[Write] = []
        for aggregate in self.tracked():
            saver = writer.savers[type(aggregate)]
            if isinstance(saver, Upsert):
                writes.append(saver.build(aggregate))
            else:
                await saver(conn, aggregate)
        result = CommandResult(id, 0, created, dict(extra or {}))
        stored = await _write(conn, writes, new_events, self, result)
        if stored:
            result = replace(result, version=stored[-1].position)
        await conn.execute("COMMIT")
        self._open = False
        if stored:
            writer.events_appended += len(stored)
            writer.on_commit(result.version)
        return result

    @property
    def mode(self) -> pg_log.AppendMode:
        return self._writer.mode


async def _write(
    conn: Connection,
    writes: list[Write],
    events: list[NewEvent],
    uow: PostgresUnitOfWork,
    result: CommandResult,
) -> list[StoredEvent]:
    """Run the saves, the append and the idempotency record as one statement."""
    import asyncpg

    claim = uow.idempotency
    if not writes and not events and claim is None:
        return []
    parts: list[str] = []
    args: list[Any] = []

    def add(name: str, sql: str, values: Sequence[Any]) -> None:
        parts.append(f"{name} AS ({pg_log.shift_placeholders(sql, len(args))})")
        args.extend(values)

    for i, write in enumerate(writes):
        add(f"saved_{i}", write.sql + " RETURNING 1", write.args)
    append = pg_log.prepare_append(events, uow.metadata, uow.mode) if events else None
    if append is not None:
        parts.append(pg_log.shift_placeholders(append.cte.strip(), len(args)))
        args.extend(append.args)
    if claim is not None:
        version = "(SELECT max(position) FROM appended)" if append is not None else "NULL"
        add(
            "claimed",
            "INSERT INTO tandem_idempotency (scope, key, fingerprint, result)"
            " SELECT $1, $2, $3,"
            f" jsonb_set($4::jsonb, '{{version}}', to_jsonb(coalesce({version}, 0)))"
            " RETURNING 1",
            (claim.scope, claim.key, claim.fingerprint, orjson.dumps(result.to_json()).decode()),
        )
    saved = ", ".join(f"(SELECT count(*) FROM saved_{i})" for i in range(len(writes)))
    positions = (
        "(SELECT array_agg(position ORDER BY position) FROM appended)"
        if append is not None
        else "NULL::bigint[]"
    )
    sql = (
        f"WITH {', '.join(parts)}\n"
        f"SELECT ARRAY[{saved}]::bigint[] AS saved, {positions} AS positions"
    )
    if append is not None:
        await pg_log.lock_for_append(conn, uow.mode)
    try:
        row = await conn.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "tandem_idempotency_pkey" and claim is not None:
            raise IdempotencyRace(claim.key) from exc
        for write in writes:
            if (error := write.failed(exc)) is not None:
                raise error from exc
        raise
    assert row is not None
    for write, count in zip(writes, row["saved"], strict=True):
        if count != 1:
            raise ConcurrencyConflict(write.aggregate_id, write.version, -1)
    if append is None:
        return []
    return pg_log.stored_events(events, row["positions"], append, uow.metadata)


def _found(fingerprint: str, result: str) -> tuple[str, CommandResult]:
    return str(fingerprint), CommandResult.from_json(orjson.loads(result))
