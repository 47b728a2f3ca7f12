"""The composition root: settings in, a wired catalog out. Nothing is built at import.

`build` returns the `catalog.runtime.contract.Runtime` of the settings' profile; the
HTTP app, the CLI and the seed use nothing else. The embedded profile is wired here in
full (`build_embedded`). The services profile opens its pools and clients inside the event
loop, so `build_services` returns a runtime whose `start` connects and wires
(`catalog.runtime.services`).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.domain.events import ALL_EVENTS
from catalog.read_models import answers
from catalog.read_models.level1.wiring import DirectReads
from catalog.read_models.product_detail import cache as detail_cache
from catalog.read_models.product_detail.feed import ProductFeed, sqlite_changes
from catalog.read_models.product_detail.sqlite import ProductDetailProjection
from catalog.read_models.product_detail.sqlite_reads import SqliteDocuments
from catalog.read_models.registry import READ_MODELS, EmbeddedReadModel, Reads, StoreKind
from catalog.runtime.contract import Role, Runtime
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.runtime.rebuilds.embedded import INLINE_BATCH, SUFFIXES, AsyncCopy, EmbeddedRebuilds
from catalog.runtime.rebuilds.files import live_file
from catalog.runtime.running import LiveTracked, RunningReadModel
from catalog.settings import Settings
from catalog.write import handlers
from catalog.write.repositories import CatalogUnitOfWork
from catalog.write.sqlite import SAVERS, SqliteCatalogUnitOfWork
from catalog.write.sqlite_schema import create_schema
from tandem.background import Background
from tandem.bus import CommandBus, QueryBus
from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch
from tandem.db.sqlite import SqliteDatabase, SqliteReader
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.shared import SharedReads
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.files import private_dir
from tandem.metrics import Metrics
from tandem.middleware import consistency, idempotency, timing, validation
from tandem.projections.base import Projection
from tandem.projections.runner import PoisonPolicy, ProjectionRunner
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.stores.sqlite_sync import SyncProjection, SyncReader
from tandem.stores.switchable import Switchable
from tandem.uow.sqlite import ReaderIdempotency, SqliteWriter

if TYPE_CHECKING:
    from catalog.runtime.services import ServicesRuntime

# A columnar store pays per transaction (about 2 ms of DuckDB's time, whatever the
# batch), not per row: under load, analytics start a round at most every quarter of a
# second, trading that much lag (their target is a second) for batches many times
# larger. A commit after a quiet spell is folded at once.
COLUMNAR_LINGER = 0.25


def build(
    settings: Settings, *, roles: Collection[Role] = (Role.API,), worker_id: str | None = None
) -> Runtime:
    """The runtime of the settings' profile, not started (`roles`, `worker_id`: what a
    services process plays; the embedded process plays every role)."""
    if settings.services:
        return build_services(settings, roles=roles, worker_id=worker_id)
    return build_embedded(settings)


def build_services(
    settings: Settings, *, roles: Collection[Role] = (Role.API,), worker_id: str | None = None
) -> ServicesRuntime:
    """A services-profile process (PostgreSQL, Redis, NATS), connected by `start`."""
    from catalog.runtime.services import ServicesRuntime

    return ServicesRuntime(settings, roles=roles, worker_id=worker_id)


def build_embedded(settings: Settings) -> EmbeddedRuntime:
    """An embedded process: the write database, the event log and every read model in
    files under `settings.data_dir`, their projections in this process."""
    metrics = Metrics()
    registry = EventRegistry()
    registry.register(*ALL_EVENTS)
    private_dir(settings.data_dir)
    write_db = SqliteDatabase(settings.write_database)
    write_db.call(create_schema)
    head = VersionWatch(write_db.call(sqlite_log.head))
    write_reader = SqliteReader(settings.write_database, inline=True)
    log_reader = SqliteEventLogReader(settings.write_database, inline=True)
    # The runners' reads of the log: one query for all of them.
    feed = SharedReads(log_reader)
    dead_letters = SqliteDeadLetters(settings.data_dir / "dead-letters.db")
    read_folder = settings.data_dir / "read"
    private_dir(read_folder)

    def new_copy(kind: StoreKind, projection: Projection[Any], path: Path) -> AsyncCopy:
        """A runner and its store's reader for one file of a read model (the live one,
        or a rebuild's)."""
        poison: dict[str, Any] = {
            "policy": PoisonPolicy(settings.policy_of(projection.name)),
            "dead_letters": dead_letters,
        }
        if kind is StoreKind.SQLITE:
            store: Any = SqliteProjectionStore(path, inline=True)
            runner = ProjectionRunner(
                projection,
                store,
                feed,
                head,
                batch_size=INLINE_BATCH,
                max_batch_size=INLINE_BATCH,
                **poison,
            )
            return AsyncCopy(runner, store.reader, store.close)
        from tandem.stores.duckdb import DuckDBProjectionStore

        duck = DuckDBProjectionStore(path)
        runner = ProjectionRunner(projection, duck, feed, head, linger=COLUMNAR_LINGER, **poison)
        return AsyncCopy(runner, duck, duck.close)

    read_models: dict[str, RunningReadModel] = {}
    readers: dict[str, Switchable | SyncReader] = {}
    # What each read model in a file of its own serves now, for the cached answers.
    served: dict[str, answers.Served] = {}
    sync_projections: list[SyncProjection] = []

    def read_model(spec: EmbeddedReadModel) -> Reads:
        projection = spec.projection()
        mode = settings.mode_of(projection.name, can_sync=spec.can_sync)
        reader: Switchable | SyncReader
        if mode == "sync":
            sync = SyncProjection(projection, store_kind="write db")
            sync_projections.append(sync)
            reader = SyncReader(write_reader, sync)
            running = RunningReadModel(sync, "write db")
        else:
            path = live_file(read_folder, projection.name, SUFFIXES[spec.store])
            copy = new_copy(spec.store, projection, path)
            running = RunningReadModel(copy.runner, spec.store.value, [copy.close])
            reader = Switchable(copy.target)
        read_models[projection.name] = running
        readers[projection.name] = reader
        reads = spec.reads(reader)
        if isinstance(reader, Switchable):
            served[projection.name] = answers.switched_under(reader, reads)
        return reads

    # Level 1: queries read the write tables; no read model, no projection. At the
    # other levels the write tables answer the queries that ask for strong consistency.
    direct = DirectReads.sqlite(settings.write_database, head) if settings.level == 1 else None
    if direct is None:
        reads = [read_model(spec) for spec in READ_MODELS]
        live = consistency(LiveTracked(read_models))
        query_bus = QueryBus([timing(metrics.query_observed), live])
        for read in reads:
            read.register(query_bus)
        strong = DirectReads.sqlite(settings.write_database, head, threads=1)
        strong_queries = strong.bus(metrics.query_observed)
    else:
        query_bus = strong_queries = direct.bus(metrics.query_observed)
        strong = direct
    writer = SqliteWriter(
        write_db,
        registry,
        head,
        SAVERS,
        sync_projections,
        max_event_bytes=settings.max_event_bytes,
    )
    command_bus: CommandBus[CatalogUnitOfWork] = CommandBus(
        lambda: SqliteCatalogUnitOfWork(writer),
        [
            timing(metrics.command_observed),
            validation,
            # The unit of work looks the key up under the write lock anyway; a lookup
            # before it, on a reader connection whose page cache every commit
            # invalidates, cost a new key (the common case) about a sixth of its CPU.
            idempotency(ReaderIdempotency(write_reader), check_first=False),
        ],
    )
    handlers.register(command_bus)
    detail = ProductDetailProjection.name
    product_feed = (
        direct.feed
        if direct is not None
        else ProductFeed(sqlite_changes(readers[detail]), read_models[detail].tracked.checkpoint)
    )
    # Level 1 has no read model to follow: detail reads go to the write tables.
    documents = (
        None
        if direct is not None
        else detail_cache.start(
            query_bus, SqliteDocuments(readers[detail]), read_models[detail].tracked
        )
    )
    followed = {name: running.tracked for name, running in read_models.items()}
    cached = tuple(c for c in (answers.SEARCH, answers.STATS) if c.read_model in served)
    background = Background()
    runtime = EmbeddedRuntime(
        settings=settings,
        metrics=metrics,
        registry=registry,
        head=head,
        write_db=write_db,
        write_reader=write_reader,
        log_reader=log_reader,
        writer=writer,
        dead_letters=dead_letters,
        read_models=read_models,
        readers=readers,
        sync_projections=sync_projections,
        command_bus=command_bus,
        query_bus=query_bus,
        strong_queries=strong_queries,
        product_feed=product_feed,
        detail_cache=documents,
        answers=answers.start(query_bus, cached, served, followed),
        direct=direct,
        strong=strong,
        read_folder=read_folder,
        background=background,
        rebuilder=EmbeddedRebuilds(
            read_models=read_models,
            readers=readers,
            writer=writer,
            write_reader=write_reader,
            head=head,
            folder=read_folder,
            new_copy=new_copy,
            background=background,
        ),
    )
    metrics.watch(runtime.status, lambda: head.value, writer.appended)
    return runtime
