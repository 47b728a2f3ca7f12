"""A command's writes on PostgreSQL as one statement: every save, the append of its
events and its idempotency record.

Inside a transaction that holds the command's locks (the locking path of
`tandem.uow.postgres`) the statement is followed by COMMIT, and a save that changed no
row is found in its result. Outside one (the optimistic path) the statement is its own
transaction, so it checks itself: it takes the locks a locking command would hold with
`pg_try_advisory_xact_lock` and fails as a whole if one is taken or a save changed no
row. Whatever else moved an aggregate since the command read it fails the statement
too: its events would repeat an aggregate version the log already holds, which the
log's unique index refuses. A failed optimistic statement writes nothing and raises
`OptimisticMiss`, whatever it ran into: the locking path decides, in the order its
locks give (a unique value taken meanwhile may be a first attempt of the same
idempotency key, which the locking path answers with that attempt's result).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from tandem.errors import ConcurrencyConflict
from tandem.eventlog import postgres as pg_log
from tandem.eventlog.base import MAX_EVENT_BYTES, NewEvent
from tandem.messages import Metadata, StoredEvent
from tandem.migrations import Component, Migration
from tandem.uow.base import CommandResult, IdempotencyClaim, OptimisticMiss
from tandem.uow.idempotency import IdempotencyRace

if TYPE_CHECKING:
    from tandem.db.postgres import Connection

_IDEMPOTENCY_TAKEN = "tandem_idempotency_pkey"

MIGRATIONS = Component(
    "tandem_writes",
    [
        Migration(
            1,
            "optimistic commits",
            """
            CREATE FUNCTION tandem_try_hold(ids TEXT[], key_high INTEGER, key_low INTEGER)
            RETURNS BOOLEAN LANGUAGE plpgsql AS $$
            DECLARE
                held TEXT;
            BEGIN
                IF key_high IS NOT NULL
                        AND NOT pg_try_advisory_xact_lock(key_high, key_low) THEN
                    RAISE EXCEPTION 'an idempotency key is held by another command'
                        USING ERRCODE = 'lock_not_available';
                END IF;
                FOREACH held IN ARRAY ids LOOP
                    IF NOT pg_try_advisory_xact_lock(hashtextextended('aggregate:' || held, 0))
                    THEN
                        RAISE EXCEPTION 'aggregate % is held by another command', held
                            USING ERRCODE = 'lock_not_available';
                    END IF;
                END LOOP;
                RETURN TRUE;
            END $$;
            CREATE FUNCTION tandem_expect_saved(saved BIGINT[]) RETURNS BOOLEAN
            LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM unnest(saved) AS s(n) WHERE n <> 1) THEN
                    RAISE EXCEPTION 'a saved aggregate had moved on'
                        USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN TRUE;
            END $$;
            """,
        )
    ],
)


@dataclass(frozen=True)
class Write:
    """One aggregate's save: an INSERT … ON CONFLICT DO UPDATE … WHERE statement.

    The statement must change exactly one row (the stored version is older) and end
    without RETURNING. `also` are further data-modifying statements over the same
    `args` (the rows of a child table, say), run in the same statement; `unique` maps
    a unique constraint the save may violate to the error that violation means.
    """

    sql: str
    args: tuple[Any, ...]
    aggregate_id: str
    version: int
    unique: Mapping[str, Callable[[], Exception]] = field(default_factory=dict)
    also: tuple[str, ...] = ()

    def failed(self, exc: Exception) -> Exception | None:
        """The domain error a unique violation from this statement stands for."""
        make = self.unique.get(getattr(exc, "constraint_name", None) or "")
        return make() if make is not None else None


class Upsert:
    """A saver whose save is one `Write`, so commit joins it to the append.

    Called like any other saver (`await saver(conn, aggregate)`), it runs the save on
    its own, in the caller's transaction.
    """

    def __init__(self, build: Callable[[Any], Write]) -> None:
        self.build = build

    async def __call__(self, conn: Connection, aggregate: Any) -> None:
        await write(conn, [self.build(aggregate)])


@dataclass(frozen=True)
class Hold:
    """The locks an optimistic statement takes: its aggregates (sorted) and, as two
    32-bit halves, its idempotency key's lock."""

    ids: list[str]
    key: tuple[int, int] | None


@dataclass
class _Statement:
    parts: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, name: str, sql: str, values: Sequence[Any]) -> None:
        self.parts.append(f"{name} AS ({self.shifted(sql)})")
        self.args.extend(values)

    def shifted(self, sql: str) -> str:
        return pg_log.shift_placeholders(sql, len(self.args))


async def write(
    conn: Connection,
    writes: Sequence[Write],
    events: Sequence[NewEvent] = (),
    *,
    metadata: Metadata | None = None,
    mode: pg_log.AppendMode = pg_log.AppendMode.HORIZON,
    max_event_bytes: int = MAX_EVENT_BYTES,
    claim: IdempotencyClaim | None = None,
    result: CommandResult | None = None,
    hold: Hold | None = None,
) -> list[StoredEvent]:
    """Run the saves, the append and the idempotency record as one statement; with
    `hold`, as a statement that is its own transaction (see the module's doc).

    `metadata` is the events' (needed with events), `result` the answer the claim
    stores (needed with a claim). An event over `max_event_bytes` raises `EventTooLarge`
    before the statement runs.
    """
    import asyncpg

    if not writes and not events and claim is None:
        return []
    statement = _Statement()
    for i, save in enumerate(writes):
        offset = len(statement.args)
        statement.add(f"saved_{i}", save.sql + " RETURNING 1", save.args)
        for j, also in enumerate(save.also):
            sql = pg_log.shift_placeholders(also, offset)
            statement.parts.append(f"saved_{i}_{j} AS ({sql})")
    append = None
    if events:
        assert metadata is not None, "events need the metadata of their command"
        append = pg_log.prepare_append(events, metadata, mode, max_event_bytes)
    if append is not None:
        statement.parts.append(statement.shifted(append.cte.strip()))
        statement.args.extend(append.args)
    if claim is not None:
        assert result is not None, "a claim stores the command's answer"
        version = "(SELECT max(position) FROM appended)" if append is not None else "NULL"
        statement.add(
            "claimed",
            "INSERT INTO tandem_idempotency (scope, key, fingerprint, result)"
            " SELECT $1, $2, $3,"
            f" jsonb_set($4::jsonb, '{{version}}', to_jsonb(coalesce({version}, 0)))"
            " RETURNING 1",
            (claim.scope, claim.key, claim.fingerprint, orjson.dumps(result.to_json()).decode()),
        )
    saved = "ARRAY[{}]::bigint[]".format(
        ", ".join(f"(SELECT count(*) FROM saved_{i})" for i in range(len(writes)))
    )
    positions = (
        "(SELECT array_agg(position ORDER BY position) FROM appended)"
        if append is not None
        else "NULL::bigint[]"
    )
    checked = ""
    if hold is not None:
        n = len(statement.args)
        checked = (
            f", tandem_try_hold(${n + 1}::text[], ${n + 2}::int, ${n + 3}::int)"
            f" AND tandem_expect_saved({saved}) AS checked"
        )
        high, low = hold.key if hold.key is not None else (None, None)
        statement.args.extend((hold.ids, high, low))
    sql = (
        f"WITH {', '.join(statement.parts)}\n"
        f"SELECT {saved} AS saved, {positions} AS positions{checked}"
    )
    if append is not None and hold is None:
        await pg_log.lock_for_append(conn, mode)
    try:
        row = await conn.fetchrow(sql, *statement.args)
    except (
        asyncpg.UniqueViolationError,
        asyncpg.LockNotAvailableError,
        asyncpg.SerializationError,
    ) as exc:
        if hold is not None:
            # Whatever the statement ran into (a held lock, a moved row, a version or
            # key or unique value another command took meanwhile) the locking path
            # decides, in the order the locks give: nothing here was written.
            raise OptimisticMiss(str(exc)) from exc
        if not isinstance(exc, asyncpg.UniqueViolationError):
            raise
        if exc.constraint_name == _IDEMPOTENCY_TAKEN and claim is not None:
            raise IdempotencyRace(claim.key) from exc
        for save in writes:
            if (error := save.failed(exc)) is not None:
                raise error from exc
        raise
    assert row is not None
    for save, count in zip(writes, row["saved"], strict=True):
        if count != 1:
            raise ConcurrencyConflict(save.aggregate_id, save.version, -1)
    if append is None:
        return []
    assert metadata is not None
    return pg_log.stored_events(events, row["positions"], append, metadata)
