"""The embedded profile's runtime: one process, SQLite files and DuckDB, no services.

`catalog.bootstrap.build_embedded` wires it; this module holds its lifecycle (start: sync
projections caught up, runners started, copies of other versions rebuilt; stop; close),
status and the operations of `catalog.runtime.contract.Runtime`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from catalog.read_models.answers import Answers
from catalog.read_models.level1.wiring import DirectReads
from catalog.read_models.product_detail.cache import DetailCache
from catalog.read_models.product_detail.feed import ProductFeed
from catalog.read_models.registry import StoreKind
from catalog.runtime.contract import ParkingTarget, RebuildUnsupported, StatusRow
from catalog.runtime.rebuilds.embedded import SUFFIXES, EmbeddedRebuilds
from catalog.runtime.rebuilds.files import clean
from catalog.runtime.running import OutdatedCopy, RunningReadModel, all_reach, serving_version
from catalog.runtime.status import count_dead_letters, describe_all
from catalog.settings import Settings
from catalog.tokens.sqlite import SqliteTokens
from catalog.write.repositories import CatalogUnitOfWork
from tandem.background import Background
from tandem.bus import CommandBus, QueryBus
from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch
from tandem.db.sqlite import SqliteDatabase, SqliteReader, checkpoint_wal
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.metrics import Metrics
from tandem.projections.runner import ProjectionRunner
from tandem.rebuilds.progress import Rebuild
from tandem.sessions import Sessions
from tandem.stores.sqlite_sync import OUTDATED, SyncProjection, SyncReader
from tandem.stores.switchable import Switchable
from tandem.uow.sqlite import SqliteWriter

log = logging.getLogger("catalog")


class EmbeddedRuntime:
    """Everything one embedded process needs, wired (see `catalog.bootstrap`)."""

    def __init__(
        self,
        *,
        settings: Settings,
        metrics: Metrics,
        registry: EventRegistry,
        head: VersionWatch,
        write_db: SqliteDatabase,
        write_reader: SqliteReader,
        log_reader: SqliteEventLogReader,
        writer: SqliteWriter,
        dead_letters: SqliteDeadLetters,
        read_models: dict[str, RunningReadModel],
        readers: dict[str, Switchable | SyncReader],
        sync_projections: list[SyncProjection],
        command_bus: CommandBus[CatalogUnitOfWork],
        query_bus: QueryBus,
        strong_queries: QueryBus,
        product_feed: ProductFeed,
        detail_cache: DetailCache | None,
        answers: Answers,
        direct: DirectReads | None,
        strong: DirectReads,
        read_folder: Path,
        background: Background,
        rebuilder: EmbeddedRebuilds,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.registry = registry
        self.head = head
        self.sessions = Sessions(head)
        self.sessions.bind(write_db.call(sqlite_log.identity), log_reader.head)
        self.write_db = write_db
        self.tokens = SqliteTokens(write_db)
        self.write_reader = write_reader
        self.log_reader = log_reader
        self.writer = writer
        self.dead_letters = dead_letters
        self.dead_letter_counts: dict[str, int] = {}
        self.readers = readers
        self.command_bus = command_bus
        self.query_bus = query_bus
        self.strong_queries = strong_queries
        self.product_feed = product_feed
        self.detail_cache = detail_cache
        self.answers = answers
        self.direct = direct
        self._strong = strong
        self.read_folder = read_folder
        self._read_models = read_models
        self._sync = sync_projections
        self._background = background
        self._rebuilder = rebuilder
        self._closed = False
        self._offline = False

    @property
    def read_models(self) -> dict[str, RunningReadModel]:
        return self._read_models

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, *, projections: bool = True) -> None:
        """Catch sync projections up, then start the asynchronous runners.

        A read model whose live copy another version of its projection built is served
        as it is, not run by this code, and, with `projections`, rebuilt to this version.
        With `projections`, copies a stopped process left behind (a rebuild's, or one a
        rebuild had replaced) are dropped first; without, no runner or rebuild starts.
        """
        spawn = self._background.spawn
        spawn(checkpoint_wal(self.settings.write_database, self.head, writes=self.writer.lock))
        spawn(self.product_feed.run(), "product-feed")
        spawn(count_dead_letters(self.dead_letters, self.dead_letter_counts))
        for sync in self._sync:
            if projections:
                await self.write_db.run(sync.drop_leftovers)
            await self.write_db.run(sync.catch_up)
        for name, running in self._read_models.items():
            tracked = running.tracked
            if not isinstance(tracked, ProjectionRunner):
                continue
            if projections:
                suffix = SUFFIXES[StoreKind(running.store_kind)]
                for path in clean(self.read_folder, name, suffix):
                    log.info("dropped %s, left behind by a stopped rebuild", path.name)
            stored = await _stored_checkpoint(tracked)
            if stored is not None and stored[1] != tracked.projection.version:
                running.tracked = OutdatedCopy(tracked, stored[0], stored[1], self.head)
                continue
            await tracked.start()
            if projections:
                spawn(tracked.run(), tracked.name)
        for name, running in self._read_models.items():
            if projections and str(running.tracked.state) == OUTDATED:
                log.info("%s was built by another version: rebuilding it", name)
                self._rebuilder.start(name)
        if projections and self.detail_cache is not None:
            # Without, it never serves: every detail read goes through the query bus.
            spawn(self.detail_cache.run(), "detail-cache")
        for query, cached in self.answers.items() if projections else ():
            spawn(cached.run(), f"answers:{query.__name__}")

    async def stop(self) -> None:
        await self._background.stop()

    def close(self) -> None:
        """Close the files (`aclose` does it too; a second close does nothing)."""
        if self._closed:
            return
        self._closed = True
        for running in self._read_models.values():
            running.close()
        self.log_reader.close()
        self._strong.close()  # the level-1 reads, at level 1
        self.dead_letters.close()
        self.write_reader.close()
        self.write_db.close()

    async def aclose(self) -> None:
        self.close()

    # -- reporting ------------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        versions: Mapping[str, int | None] = {
            name: serving_version(running.tracked) for name, running in self._read_models.items()
        }
        rows = describe_all(
            self._read_models, self.head.value, self.dead_letter_counts, versions, self.rebuilds
        )
        return [{**row, "state": "offline"} for row in rows] if self._offline else rows

    async def readiness(self) -> list[str]:
        problems: list[str] = []
        try:
            await self.write_reader.run(
                lambda c: c.execute("SELECT 1 FROM tandem_events LIMIT 1").fetchall()
            )
        except Exception as exc:
            problems.append(f"write database: {exc}")
        for name, running in self._read_models.items():
            if str(running.tracked.state) == "starting":
                problems.append(f"{name}: not started")
        return problems

    async def inspect(self) -> None:
        """Read every stored checkpoint and version without applying anything; states
        read `offline`, since no runner runs."""
        await self.load_checkpoints()
        self._offline = True

    async def load_checkpoints(self) -> None:
        """Read every stored checkpoint and version without applying anything."""
        for running in self._read_models.values():
            tracked = running.tracked
            if isinstance(tracked, ProjectionRunner):
                stored = await _stored_checkpoint(tracked)
                if stored is not None and stored[1] != tracked.projection.version:
                    running.tracked = OutdatedCopy(tracked, stored[0], stored[1], self.head)
                elif stored is not None:
                    tracked.checkpoint.advance(stored[0])
            elif isinstance(tracked, SyncProjection):
                tracked.checkpoint.advance(await self.write_db.run(tracked.load))

    async def wait_until_caught_up(self, timeout: float = 30.0) -> bool:
        return await all_reach(self._read_models, self.head.value, timeout)

    # -- operations -----------------------------------------------------------------

    @property
    def rebuilds(self) -> dict[str, Rebuild]:
        return self._rebuilder.rebuilds

    async def rebuild(self, name: str) -> Rebuild:
        self._refuse_at_level_1()
        return self._rebuilder.start(name)

    async def cancel_rebuild(self, name: str) -> Rebuild:
        self._refuse_at_level_1()
        return self._rebuilder.cancel(name)

    async def refresh_rebuilds(self) -> None:
        """Nothing to read: this process runs every rebuild itself."""
        self._refuse_at_level_1()

    def _refuse_at_level_1(self) -> None:
        if self.settings.level == 1:
            raise RebuildUnsupported

    def parking_target(self, name: str) -> ParkingTarget:
        running = self._read_models.get(name)
        if running is None or not isinstance(running.tracked, ProjectionRunner):
            raise KeyError(f"{name} is not an asynchronous projection")
        return running.tracked.store, running.tracked.projection


async def _stored_checkpoint(runner: ProjectionRunner) -> tuple[int, int] | None:
    """(position, version) stored with the runner's copy (a SQLite or DuckDB store),
    read without running any of the projection's code on it."""
    store: Any = runner.store
    stored: tuple[int, int] | None = await store.stored_checkpoint(runner.name)
    return stored
