"""Level 1 assembled for a composition root: the query handlers, the version watch the
consistency middleware waits on, and the live product feed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.read_models.level1 import READ_MODEL
from catalog.read_models.level1.feed import WriteTables, head_changes
from catalog.read_models.level1.reads import Level1Reads, Snapshots
from catalog.read_models.product_detail.feed import ProductFeed
from tandem.bus import Middleware, QueryBus
from tandem.consistency import VersionWatch
from tandem.middleware import Observer, consistency, refreshed, timing

if TYPE_CHECKING:
    from tandem.db.postgres import Pool


class DirectReads:
    """Every query on the write tables, at the log head."""

    def __init__(self, snapshots: Snapshots, head: VersionWatch, close: Callable[[], None]) -> None:
        self.reads = Level1Reads(snapshots)
        self.tracked = {READ_MODEL: WriteTables(head)}
        self.feed = ProductFeed(head_changes(self.reads.documents, head), head)
        self.close = close

    def bus(
        self, observed: Observer, refresh: Callable[[], Awaitable[None]] | None = None
    ) -> QueryBus:
        """A query bus answering every query from the write tables, at the head; with
        `refresh`, which brings the head up to the database's before each read (where
        other processes write too), for `consistency=strong`."""
        middleware: list[Middleware] = [timing(observed)]
        if refresh is not None:
            middleware.append(refreshed(refresh))
        bus = QueryBus([*middleware, consistency(self.tracked)])
        self.reads.register(bus)
        return bus

    @classmethod
    def sqlite(cls, path: Path, head: VersionWatch, *, threads: int = 2) -> DirectReads:
        from catalog.read_models.level1.sqlite import SqliteSnapshots

        snapshots = SqliteSnapshots(path, threads=threads)
        return cls(snapshots, head, snapshots.close)

    @classmethod
    def postgres(cls, pool: Pool, head: VersionWatch) -> DirectReads:
        from catalog.read_models.level1.postgres import PostgresSnapshots

        return cls(PostgresSnapshots(pool), head, lambda: None)
