"""Level-1 snapshots on the PostgreSQL write database (services profile).

Each batch runs in one read-only REPEATABLE READ transaction on a pooled connection,
so its statements see one snapshot; `?` placeholders are numbered for asyncpg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from catalog.read_models.level1.dialect import POSTGRES, numbered
from catalog.read_models.level1.statements import Statement

if TYPE_CHECKING:
    from tandem.db.postgres import Pool


class PostgresSnapshots:
    dialect = POSTGRES

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def read(self, batch: Sequence[Statement], *, light: bool = False) -> list[Sequence[Any]]:
        async with self._pool.acquire() as conn:
            if len(batch) == 1:  # one statement is one snapshot already
                sql, params = batch[0]
                return [await conn.fetch(numbered(sql), *params)]
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return [await conn.fetch(numbered(sql), *params) for sql, params in batch]

    def close(self) -> None:
        """The pool belongs to the catalog, which closes it."""
