"""Level-1 snapshots on the SQLite write database (embedded profile).

Read-only connections beside the writer (WAL): each batch runs in one deferred read
transaction, so its statements see one committed state. Light batches (a few
primary-key seeks) run inline on the event loop, the rest on reader threads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from catalog.read_models.level1.dialect import SQLITE
from catalog.read_models.level1.statements import Statement
from tandem.db.sqlite import SqliteReader, transaction


def _run(batch: Sequence[Statement], conn: sqlite3.Connection) -> list[Sequence[Any]]:
    with transaction(conn, immediate=False):
        return [conn.execute(sql, list(params)).fetchall() for sql, params in batch]


class SqliteSnapshots:
    dialect = SQLITE

    def __init__(self, path: Path, *, threads: int = 2) -> None:
        self._reader = SqliteReader(path, threads=threads)

    async def read(self, batch: Sequence[Statement], *, light: bool = False) -> list[Sequence[Any]]:
        if light:
            return self._reader.call(lambda conn: _run(batch, conn))
        return await self._reader.run(lambda conn: _run(batch, conn))

    def close(self) -> None:
        self._reader.close()
