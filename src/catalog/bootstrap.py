"""The composition root: settings in, a running catalog out. Nothing is built at import."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.domain.events import ALL_EVENTS
from catalog.read_files import clean, live_file, next_file, point_to, remove
from catalog.read_models.level1.wiring import DirectReads
from catalog.read_models.product_detail.feed import ProductFeed, sqlite_changes
from catalog.read_models.product_detail.sqlite import ProductDetailProjection
from catalog.read_models.registry import READ_MODELS, ReadModel, Reads
from catalog.settings import Settings
from catalog.tokens import TokenVerifier
from catalog.write import handlers
from catalog.write.repositories import CatalogUnitOfWork
from catalog.write.sqlite import SAVERS, SqliteCatalogUnitOfWork
from catalog.write.sqlite_schema import create_schema
from tandem.bus import CommandBus, QueryBus
from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch, follow
from tandem.db.sqlite import SqliteDatabase, SqliteReader, checkpoint_wal
from tandem.deadletters import DeadLetters, per_projection
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.metrics import Metrics
from tandem.middleware import consistency, idempotency, timing, validation
from tandem.projections import sync_rebuild
from tandem.projections.base import Projection
from tandem.projections.rebuild import Rebuild, RebuildState
from tandem.projections.runner import PoisonPolicy, ProjectionRunner, ProjectionState
from tandem.projections.status import Tracked, describe
from tandem.projections.sync import OUTDATED, SyncProjection, SyncReader
from tandem.stopping import finish
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.stores.switchable import Switchable
from tandem.uow import CommandResult
from tandem.uow.sqlite import SqliteWriter, lookup_idempotency

log = logging.getLogger("catalog")

# Embedded projections apply on the event loop's thread (see SqliteDatabase.inline);
# batches this size keep each stretch of the loop to a few milliseconds.
INLINE_BATCH = 200
SUFFIXES = {"sqlite": ".db", "duckdb": ".duckdb"}
# Queries that picked the old copy just before a switch finish within this many seconds.
SWITCH_GRACE = 2.0
# A columnar store pays per transaction, not per row: analytics trade a tenth of a
# second of lag for batches many times larger.
COLUMNAR_LINGER = 0.1


class WriteDatabaseIdempotency:
    """Idempotency lookups on a read-only connection to the write database."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get(self, scope: str, key: str) -> tuple[str, CommandResult] | None:
        return await self._reader.run(lambda c: lookup_idempotency(c, scope, key))


@dataclass
class RunningReadModel:
    tracked: Tracked
    store_kind: str
    closers: list[Callable[[], None]] = field(default_factory=list)


class Catalog:
    """Everything one process needs, wired together. Start it, use the buses, stop it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.registry = EventRegistry()
        self.registry.register(*ALL_EVENTS)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_db = SqliteDatabase(settings.write_database)
        self.write_db.call(_create_write_schema)
        self.head = VersionWatch(self.write_db.call(sqlite_log.head))
        self.write_reader = SqliteReader(settings.write_database, inline=True)
        self.log_reader = SqliteEventLogReader(settings.write_database, inline=True)
        self.dead_letters = SqliteDeadLetters(settings.data_dir / "dead-letters.db")
        self.dead_letter_counts: dict[str, int] = {}
        self.read_models: dict[str, RunningReadModel] = {}
        self.readers: dict[str, Any] = {}
        self.read_folder = settings.data_dir / "read"
        self.read_folder.mkdir(parents=True, exist_ok=True)
        self.rebuilds: dict[str, Rebuild] = {}
        self._rebuild_tasks: dict[str, asyncio.Task[None]] = {}
        sync_projections: list[SyncProjection] = []
        # Level 1: queries read the write tables; no read model, no projection.
        self.direct = (
            DirectReads.sqlite(settings.write_database, self.head) if settings.level == 1 else None
        )
        if self.direct is not None:
            reads: list[Reads] = [self.direct.reads]
        else:
            reads = [self._build_read_model(spec, sync_projections) for spec in READ_MODELS]
        self.query_bus = QueryBus(
            [
                timing(self.metrics.query_observed),
                consistency(self.direct.tracked if self.direct else LiveTracked(self.read_models)),
            ]
        )
        for read in reads:
            read.register(self.query_bus)
        self.writer = SqliteWriter(
            self.write_db, self.registry, self.head, SAVERS, sync_projections
        )
        self.command_bus: CommandBus[CatalogUnitOfWork] = CommandBus(
            lambda: SqliteCatalogUnitOfWork(self.writer),
            [
                timing(self.metrics.command_observed),
                validation,
                idempotency(WriteDatabaseIdempotency(self.write_reader)),
            ],
        )
        handlers.register(self.command_bus)
        self.metrics.watch(self.status, lambda: self.head.value, self.writer.appended)
        self.product_feed = (
            self.direct.feed
            if self.direct is not None
            else ProductFeed(
                sqlite_changes(self.readers[ProductDetailProjection.name]),
                self.read_models[ProductDetailProjection.name].tracked.checkpoint,
            )
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._sync = sync_projections

    def _build_read_model(self, spec: ReadModel, sync_projections: list[SyncProjection]) -> Reads:
        projection: Projection[Any] = spec.projection()
        mode = self.settings.mode_of(projection.name, can_sync=spec.can_sync)
        reader: Any
        if mode == "sync":
            sync = SyncProjection(projection, store_kind="write db")
            sync_projections.append(sync)
            reader = SyncReader(self.write_reader, sync)
            running = RunningReadModel(sync, "write db")
        else:
            live = self._live(projection.name, spec.store)
            runner, target, close = self._async_copy(spec.store, projection, live)
            running = RunningReadModel(runner, spec.store, [close])
            reader = Switchable(target)
        self.read_models[projection.name] = running
        self.readers[projection.name] = reader
        return spec.reads(reader)

    def _live(self, name: str, kind: str) -> Path:
        return live_file(self.read_folder, name, SUFFIXES[kind])

    def _async_copy(
        self, kind: str, projection: Any, path: Path
    ) -> tuple[ProjectionRunner, Any, Callable[[], None]]:
        """A runner, its store's reader and how to close them, for one file of a read
        model (the live one, or a rebuild's)."""
        if kind == "sqlite":
            store: Any = SqliteProjectionStore(path, inline=True)
            options: dict[str, Any] = {"batch_size": INLINE_BATCH}
            target = store.reader
        else:
            from tandem.stores.duckdb import DuckDBProjectionStore

            store = DuckDBProjectionStore(path)
            options = {"linger": COLUMNAR_LINGER}
            target = store
        runner = ProjectionRunner(
            projection,
            store,
            self.log_reader,
            self.head,
            **options,
            **self._poison(projection.name),
        )
        return runner, target, store.close

    def rebuild(self, name: str) -> Rebuild:
        """Start a blue/green rebuild of a read model to the version its projection
        declares: an asynchronous one into a new file (see `_rebuild`), a sync one into
        new tables of the write database (see `tandem.projections.sync_rebuild`)."""
        running = self.read_models.get(name)
        if running is None:
            raise KeyError(name)
        current = self.rebuilds.get(name)
        if current is not None and current.state is RebuildState.RUNNING:
            raise RebuildRefused(f"{name} is being rebuilt already")
        tracked = running.tracked
        work: Coroutine[Any, Any, None]
        if isinstance(tracked, SyncProjection):
            generation = self.write_reader.call(
                functools.partial(sync_rebuild.next_generation, name=name)
            )
            target = sync_rebuild.storage_name(name, generation)
            rebuild = Rebuild(name, target, type(tracked.projection).version)
            work = sync_rebuild.rebuild(
                self.writer,
                tracked,
                rebuild,
                generation,
                batch_size=INLINE_BATCH,
                grace=SWITCH_GRACE,
            )
        else:
            assert isinstance(tracked, ProjectionRunner | OutdatedCopy)
            kind = running.store_kind
            path = next_file(self.read_folder, name, SUFFIXES[kind])
            rebuild = Rebuild(name, path.name, type(tracked.projection).version)
            work = self._rebuild(rebuild, kind, path)
        self.rebuilds[name] = rebuild
        task = asyncio.create_task(work, name=f"rebuild:{name}")
        self._rebuild_tasks[name] = task
        self._tasks.append(task)
        return rebuild

    def cancel_rebuild(self, name: str) -> Rebuild:
        rebuild = self.rebuilds.get(name)
        task = self._rebuild_tasks.get(name)
        if rebuild is None or task is None or rebuild.state is not RebuildState.RUNNING:
            raise KeyError(name)
        task.cancel()
        return rebuild

    async def _rebuild(self, rebuild: Rebuild, kind: str, path: Path) -> None:
        """Fold a new copy from position 0 beside the live one, follow the log until it
        has caught up with the live copy, then switch reads and the runner to it in one
        step of the event loop; the old copy is dropped after a grace period."""
        name = rebuild.projection
        running = self.read_models[name]
        live = running.tracked
        assert isinstance(live, ProjectionRunner | OutdatedCopy)
        runner, target, close = self._async_copy(kind, type(live.projection)(), path)
        task: asyncio.Task[None] | None = None
        try:
            await runner.start()
            task = asyncio.create_task(runner.run(), name=name)
            while True:
                goal = max(self.head.value, live.checkpoint.value)
                rebuild.head = goal
                if runner.state is ProjectionState.FAILED:
                    raise RuntimeError(runner.error or "the new copy failed")
                if runner.checkpoint.value >= goal:
                    break
                await runner.checkpoint.wait_for(goal, timeout=0.2)
                rebuild.checkpoint = runner.checkpoint.value
                rebuild.applied = runner.events_applied
        except BaseException as exc:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await finish([task])
            close()
            remove(path)
            rebuild.finished = time.monotonic()
            if isinstance(exc, asyncio.CancelledError):
                rebuild.state = RebuildState.CANCELLED
                raise
            rebuild.state, rebuild.error = RebuildState.FAILED, f"{type(exc).__name__}: {exc}"
            log.warning("rebuild of %s failed: %s", name, rebuild.error)
            return
        # The switch: no await between these lines, so no query sees half of it.
        old_path = self._live(name, kind)
        point_to(self.read_folder, name, path)
        previous = self.readers[name].switch(target)
        old_closers, running.closers = running.closers, [close]
        running.tracked = runner
        for old_task in [t for t in self._tasks if t.get_name() == name]:
            old_task.cancel()
            self._tasks.remove(old_task)
        assert task is not None
        self._tasks.append(task)
        self._tasks.append(asyncio.create_task(follow(runner.checkpoint, live.checkpoint)))
        rebuild.state, rebuild.checkpoint = RebuildState.SWITCHED, runner.checkpoint.value
        rebuild.applied, rebuild.finished = runner.events_applied, time.monotonic()
        log.info("rebuild of %s switched to %s at %s", name, path.name, rebuild.checkpoint)
        del previous
        try:
            await asyncio.sleep(SWITCH_GRACE)  # queries already on the old copy finish
        finally:  # stopping the catalog meanwhile still drops the old copy
            for closer in old_closers:
                closer()
            remove(old_path)

    def parking_target(self, name: str) -> tuple[Any, Any]:
        """The store and projection whose dead letters `tandem dead-letters` retries."""
        running = self.read_models.get(name)
        if running is None or not isinstance(running.tracked, ProjectionRunner):
            raise KeyError(f"{name} is not an asynchronous projection")
        return running.tracked.store, running.tracked.projection

    def _poison(self, name: str) -> dict[str, Any]:
        return {
            "policy": PoisonPolicy(self.settings.policy_of(name)),
            "dead_letters": self.dead_letters,
        }

    async def start(self, *, projections: bool = True) -> None:
        """Catch sync projections up, then start the asynchronous runners.

        A read model whose live copy another version of its projection built is served
        as it is, not run by this code, and, with `projections`, rebuilt to this version.
        With `projections`, copies a stopped process left behind (a rebuild's, or one a
        rebuild had replaced) are dropped first; without, no runner or rebuild starts.
        """
        self._tasks.append(
            asyncio.create_task(checkpoint_wal(self.settings.write_database, self.head))
        )
        self._tasks.append(asyncio.create_task(self.product_feed.run(), name="product-feed"))
        self._tasks.append(
            asyncio.create_task(count_dead_letters(self.dead_letters, self.dead_letter_counts))
        )
        for sync in self._sync:
            if projections:
                await self.write_db.run(sync.drop_leftovers)
            await self.write_db.run(sync.catch_up)
        for name, running in self.read_models.items():
            tracked = running.tracked
            if not isinstance(tracked, ProjectionRunner):
                continue
            if projections:
                for path in clean(self.read_folder, name, SUFFIXES[running.store_kind]):
                    log.info("dropped %s, left behind by a stopped rebuild", path.name)
            stored = await stored_checkpoint(tracked.store, name)
            if stored is not None and stored[1] != tracked.projection.version:
                running.tracked = OutdatedCopy(tracked, *stored, self.head)
                continue
            await tracked.start()
            if projections:
                self._tasks.append(asyncio.create_task(tracked.run(), name=tracked.name))
        for name, running in self.read_models.items():
            if projections and str(running.tracked.state) == OUTDATED:
                log.info("%s was built by another version: rebuilding it", name)
                self.rebuild(name)

    async def stop(self) -> None:
        await finish(self._tasks)
        self._tasks.clear()

    def close(self) -> None:
        for running in self.read_models.values():
            for close in running.closers:
                close()
        self.log_reader.close()
        if self.direct is not None:
            self.direct.close()
        self.dead_letters.close()
        self.write_reader.close()
        self.write_db.close()

    async def load_tokens(self, verifier: TokenVerifier) -> None:
        self.write_db.call(verifier.load)

    async def aclose(self) -> None:
        """Nothing to do here: the embedded profile's files close in `close`."""

    def status(self) -> list[dict[str, Any]]:
        return describe_all(
            self.read_models,
            self.head.value,
            self.dead_letter_counts,
            versions={n: serving_version(r.tracked) for n, r in self.read_models.items()},
            rebuilds=self.rebuilds,
        )

    async def readiness(self) -> list[str]:
        """What keeps this process from serving: unreachable stores, missing schema."""
        problems: list[str] = []
        try:
            await self.write_reader.run(
                lambda c: c.execute("SELECT 1 FROM tandem_events LIMIT 1").fetchall()
            )
        except Exception as exc:
            problems.append(f"write database: {exc}")
        for name, running in self.read_models.items():
            if str(running.tracked.state) == "starting":
                problems.append(f"{name}: not started")
        return problems

    async def load_checkpoints(self) -> None:
        """Read every stored checkpoint and version without applying anything (for
        `tandem status`)."""
        for running in self.read_models.values():
            tracked = running.tracked
            if isinstance(tracked, ProjectionRunner):
                stored = await stored_checkpoint(tracked.store, tracked.name)
                if stored is not None and stored[1] != tracked.projection.version:
                    running.tracked = OutdatedCopy(tracked, *stored, self.head)
                elif stored is not None:
                    tracked.checkpoint.advance(stored[0])
            elif isinstance(tracked, SyncProjection):
                tracked.checkpoint.advance(await self.write_db.run(tracked.load))

    async def wait_until_caught_up(self, timeout: float = 30.0) -> bool:
        """Wait until every projection has applied the current head (tests, seeding)."""
        return await all_reach(self.read_models, self.head.value, timeout)


def describe_all(
    read_models: Mapping[str, RunningReadModel],
    head: int,
    letters: dict[str, int],
    *,
    versions: Mapping[str, int] | None = None,
    rebuilds: Mapping[str, Rebuild] | None = None,
) -> list[dict[str, Any]]:
    """`/status` rows of every read model, each with the projection version its copy
    serves (from `versions`; by default the version its projection declares) and the
    rebuild running or last finished (from `rebuilds`), or None."""
    rows: list[dict[str, Any]] = []
    for name, r in read_models.items():
        row = describe(r.tracked, r.store_kind, head, per_projection(letters, name))
        row["version"] = versions.get(name) if versions is not None else _declared(r.tracked)
        rebuild = (rebuilds or {}).get(name)
        row["rebuild"] = rebuild.describe() if rebuild is not None else None
        rows.append(row)
    return rows


def _declared(tracked: Tracked) -> int | None:
    projection = getattr(tracked, "projection", None)
    return None if projection is None else int(projection.version)


def serving_version(tracked: Tracked) -> int:
    """The projection version that built the copy `tracked` serves."""
    if isinstance(tracked, SyncProjection | OutdatedCopy):
        return tracked.version
    assert isinstance(tracked, ProjectionRunner)
    return tracked.projection.version


async def stored_checkpoint(store: Any, name: str) -> tuple[int, int] | None:
    """(position, projection version) of the checkpoint stored with a read model's copy
    (SQLite or DuckDB), read without running any of the projection's code on it; None
    before its first event."""

    def read(conn: Any) -> tuple[int, int] | None:
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'tandem_checkpoints'"
        ).fetchone()
        if not found[0]:
            return None
        row = conn.execute(
            "SELECT position, version FROM tandem_checkpoints WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    result: tuple[int, int] | None
    if isinstance(store, SqliteProjectionStore):
        result = await store.db.run(read)
    else:
        result = await store.run(read)
    return result


class OutdatedCopy:
    """An asynchronous read model served as its stored copy, which another version of
    its projection built: this code does not run it, so its checkpoint stays where it
    was (queries asking for later versions wait, then answer read-model-behind) until a
    rebuild to this version switches."""

    mode = "async"
    state = OUTDATED
    error: str | None = None
    events_applied = 0

    def __init__(
        self, runner: ProjectionRunner, position: int, version: int, head: VersionWatch
    ) -> None:
        self.runner = runner
        self.projection = runner.projection
        self.store = runner.store
        self.version = version
        # The runner's own watch, which queries and the product feed already hold.
        self.checkpoint = runner.checkpoint
        self.checkpoint.advance(position)
        self._head = head
        self._since = time.monotonic()

    @property
    def name(self) -> str:
        return self.runner.name

    def lag_seconds(self) -> float:
        if self._head.value <= self.checkpoint.value:
            return 0.0
        return time.monotonic() - self._since


async def count_dead_letters(letters: DeadLetters, into: dict[str, int]) -> None:
    """Keep `into` at the number of dead letters per projection, re-read every second."""
    while True:
        try:
            counts = await letters.counts()
            into.clear()
            into.update(counts)
        except Exception as exc:  # a status figure; the store may be back next second
            log.warning("counting dead letters failed: %s", exc)
        await asyncio.sleep(1.0)


async def all_reach(
    read_models: Mapping[str, RunningReadModel], target: int, timeout: float
) -> bool:
    """Wait until every read model has applied `target` (False on timeout)."""
    for running in read_models.values():
        if not await running.tracked.checkpoint.wait_for(target, timeout):
            return False
    return True


class RebuildRefused(Exception):
    """The read model cannot be rebuilt now: it is being rebuilt already."""


class LiveTracked(Mapping[str, Tracked]):
    """The running read models by name, as the consistency middleware sees them."""

    def __init__(self, read_models: dict[str, RunningReadModel]) -> None:
        self._read_models = read_models

    def __getitem__(self, name: str) -> Tracked:
        return self._read_models[name].tracked

    def __iter__(self) -> Iterator[str]:
        return iter(self._read_models)

    def __len__(self) -> int:
        return len(self._read_models)


def _create_write_schema(conn: Any) -> None:
    create_schema(conn)
