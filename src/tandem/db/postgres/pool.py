"""The connection pool every PostgreSQL part of the toolkit shares, and its types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

from tandem.errors import StoreUnreachable
from tandem.unavailable import location, reason

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, settings: Mapping[str, str] | None = None
) -> Pool:
    """A pool whose sessions cannot sit in an open transaction forever, with `settings`
    (server settings of every session) besides.

    An idle open transaction holds back the event log's read horizon (see
    `tandem.eventlog.postgres`), so sessions that leave one open are cut off.
    """
    import asyncpg

    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            reset=_rollback_if_open,
            server_settings={"idle_in_transaction_session_timeout": "30000", **(settings or {})},
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The driver says "Connect call failed ('127.0.0.1', 5432)" or "database does
        # not exist" without naming the other half: say which database it was.
        where = f"PostgreSQL at {location(url, 5432)}"
        raise StoreUnreachable(where, reason(exc)) from exc
    assert pool is not None
    return pool


async def _rollback_if_open(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """What a connection needs before it goes back to the pool.

    asyncpg's default reset (RESET ALL, UNLISTEN *, advisory unlock, …) costs a round
    trip per release; Tandem's pooled sessions change no session state (listening has
    its own connection, advisory locks are per transaction), so only an open
    transaction must go.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
