"""The unit of work on PostgreSQL: a pooled connection, one transaction per command.

Writers run concurrently. Repositories hold the aggregates a command changes with
advisory transaction locks (never row locks: see `catalog.write.postgres_repositories`
for why event positions need that), so two commands on the same aggregate queue
instead of failing each other's version check; commands on different aggregates never
wait for each other. Nothing here writes before commit, so a transaction takes its id
only once every lock is held. The event log needs no lock either (see
`tandem.eventlog.postgres`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

import orjson

from tandem.codec import EventRegistry
from tandem.eventlog import postgres as pg_log
from tandem.idempotency import IdempotencyRace, IdempotencyReplay
from tandem.uow import CommandResult, IdempotencyClaim, UnitOfWork

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy
    from asyncpg.transaction import Transaction

    from tandem.pg import Connection, Pool

Save = Callable[[Any, Any], Awaitable[None]]


async def lookup_idempotency(
    conn: Connection | Pool, scope: str, key: str
) -> tuple[str, CommandResult] | None:
    row = await conn.fetchrow(
        "SELECT fingerprint, result::text FROM tandem_idempotency WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    if row is None:
        return None
    return str(row[0]), CommandResult.from_json(orjson.loads(row[1]))


class PostgresIdempotency:
    """Idempotency lookups outside any command's transaction."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def get(self, scope: str, key: str) -> tuple[str, CommandResult] | None:
        return await lookup_idempotency(self._pool, scope, key)


class PostgresWriter:
    """Shared parts of every PostgreSQL unit of work: the pool, the codec, the savers."""

    def __init__(
        self,
        pool: Pool,
        registry: EventRegistry,
        savers: Mapping[type, Save],
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
    """A unit of work over a `PostgresWriter`. Use one per command."""

    def __init__(self, writer: PostgresWriter) -> None:
        super().__init__()
        self._writer = writer
        self._conn: PoolConnectionProxy[Any] | None = None
        self._tx: Transaction | None = None
        self._committed = False

    @property
    def connection(self) -> Connection:
        """The open transaction's connection, for the repositories."""
        assert self._conn is not None, "unit of work is not open"
        return self._conn

    async def __aenter__(self) -> Self:
        conn = await self._writer.pool.acquire()
        self._conn = conn
        self._committed = False
        try:
            self._tx = conn.transaction()
            await self._tx.start()
            claim = self.idempotency
            if claim is not None:
                # Retries of one key queue here; the first attempt's answer is then
                # authoritative, exactly as under the SQLite writer lock.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                    claim.scope,
                    claim.key,
                )
                found = await lookup_idempotency(conn, claim.scope, claim.key)
                if found is not None:
                    raise IdempotencyReplay(*found)
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        self.reset()
        if conn is None:
            return
        try:
            if tx is not None and not self._committed:
                await tx.rollback()
        finally:
            await self._writer.pool.release(conn)

    async def commit(
        self, id: str, *, created: bool = False, extra: Mapping[str, Any] | None = None
    ) -> CommandResult:
        """Save tracked aggregates, append their events, store the idempotency record
        and COMMIT, all in one transaction."""
        writer = self._writer
        conn = self.connection
        new_events = self.collect_events(writer.registry)
        for aggregate in self.tracked():
            await writer.savers[type(aggregate)](conn, aggregate)
        stored = await pg_log.append(conn, new_events, self.metadata, writer.mode)
        version = stored[-1].position if stored else 0
        result = CommandResult(id, version, created, dict(extra or {}))
        if self.idempotency is not None:
            await _store_claim(conn, self.idempotency, result)
        assert self._tx is not None
        await self._tx.commit()
        self._committed = True
        if stored:
            writer.events_appended += len(stored)
            writer.on_commit(version)
        return result


async def _store_claim(conn: Connection, claim: IdempotencyClaim, result: CommandResult) -> None:
    import asyncpg

    try:
        await conn.execute(
            "INSERT INTO tandem_idempotency (scope, key, fingerprint, result)"
            " VALUES ($1, $2, $3, $4::jsonb)",
            claim.scope,
            claim.key,
            claim.fingerprint,
            orjson.dumps(result.to_json()).decode(),
        )
    except asyncpg.UniqueViolationError as exc:
        raise IdempotencyRace(claim.key) from exc
