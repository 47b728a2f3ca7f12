"""The composition root of the services profile: PostgreSQL, Redis, NATS JetStream.

One process plays one or more roles:

- `api` (`tandem serve`): commands on the PostgreSQL write database; queries from Redis
  and the PostgreSQL read database, whose checkpoints it follows through workers'
  notifications; analytics from a DuckDB file of its own, folded in-process (a DuckDB
  file has one writer process, and analytics are cheap to refold).
- `worker` (`tandem worker`): runs the projections into Redis and the read database
  whose leases it holds, fed by the event log directly (LISTEN/NOTIFY wakes it) or by
  the JetStream stream when `TANDEM_NATS_URL` is set.

The relay (`tandem relay`) needs no catalog; see `catalog.cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.bootstrap import (
    LiveTracked,
    RebuildRefused,
    RunningReadModel,
    all_reach,
    count_dead_letters,
    describe_all,
)
from catalog.domain.events import ALL_EVENTS
from catalog.generations.keeper import GenerationKeeper
from catalog.generations.serving import ServedGenerations
from catalog.generations.storage import stored_class
from catalog.read_models.level1.wiring import DirectReads
from catalog.read_models.product_detail import cache as detail_cache
from catalog.read_models.product_detail.feed import ProductFeed
from catalog.settings import Settings, SettingsError
from catalog.write import handlers, postgres_schema
from catalog.write.postgres import SAVERS, PostgresCatalogUnitOfWork
from catalog.write.repositories import CatalogUnitOfWork
from tandem import deadletters as dead_letter_table
from tandem import generations as registry
from tandem import leases as lease_table
from tandem.bus import CommandBus, QueryBus
from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch, follow
from tandem.db.postgres import create_pool
from tandem.db.postgres_notify import Listener
from tandem.eventlog import postgres as pg_log
from tandem.metrics import Metrics
from tandem.middleware import consistency, idempotency, timing, validation
from tandem.migrations import Component, pending
from tandem.projections.base import AsyncProjection
from tandem.projections.partitions import partitions
from tandem.projections.rebuild import Rebuild
from tandem.projections.remote import RemoteProjection, RemoteProjections
from tandem.projections.runner import PoisonPolicy, ProjectionRunner
from tandem.projections.worker import (
    CHECKPOINT_CHANNEL,
    LeasedRunner,
    ProjectionWorker,
    RunnerFactory,
)
from tandem.stopping import finish
from tandem.uow.postgres import PostgresIdempotency, PostgresWriter

if TYPE_CHECKING:
    import redis.asyncio


log = logging.getLogger("catalog")

MIGRATIONS: list[Component] = [
    pg_log.MIGRATIONS,
    lease_table.MIGRATIONS,
    dead_letter_table.MIGRATIONS,
    registry.MIGRATIONS,
    postgres_schema.MIGRATIONS,
]


# Analytics run beside the API's event loop here: one DuckDB transaction a second keeps
# them from competing with requests for the interpreter, for a second of lag.
ANALYTICS_LINGER = 1.0
# How long a replaced analytics copy stays open for the queries already running on it.
SWITCH_GRACE = 2.0


class Role(StrEnum):
    API = "api"
    WORKER = "worker"


class StoreKind(StrEnum):
    REDIS = "redis"
    POSTGRES = "postgres"
    DUCKDB = "duckdb"


@dataclass(frozen=True)
class ServiceReadModel:
    """One read model on the services profile: its projection, store and queries."""

    name: str
    store: StoreKind
    projection: type[Any]
    # Queries on one stored copy: the catalog and the copy's projection class (a
    # generation of `projection`, see `catalog.generations.storage`).
    reads: Callable[[ServicesCatalog, type[Any]], Any]


def _service_read_models() -> list[ServiceReadModel]:
    from catalog.read_models.cart_view.redis import RedisCartViewProjection
    from catalog.read_models.cart_view.redis_reads import RedisCartViewReads
    from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection
    from catalog.read_models.category_stats.redis_reads import RedisCategoryStatsReads
    from catalog.read_models.order_view.redis import RedisOrderViewProjection
    from catalog.read_models.order_view.redis_reads import RedisOrderViewReads
    from catalog.read_models.price_history.duckdb import PriceHistoryProjection
    from catalog.read_models.price_history.duckdb_reads import PriceHistoryReads
    from catalog.read_models.product_detail.redis import RedisProductDetailProjection
    from catalog.read_models.product_detail.redis_reads import RedisProductDetailReads
    from catalog.read_models.product_search.postgres import (
        PostgresProductSearchProjection,
        SearchTables,
    )
    from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
    from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
    from catalog.read_models.sales_analytics.duckdb_reads import SalesAnalyticsReads
    from tandem.stores.postgres import table_prefix

    def redis_reads(cls: Any) -> Callable[[ServicesCatalog, type[Any]], Any]:
        return lambda cat, stored: cls(cat.redis, cat.redis_prefix, stored_as=stored)

    return [
        ServiceReadModel(
            "product_detail",
            StoreKind.REDIS,
            RedisProductDetailProjection,
            lambda cat, stored: RedisProductDetailReads(
                cat.redis, cat.redis_prefix, cat.partitions_of("product_detail"), stored
            ),
        ),
        ServiceReadModel(
            "product_search",
            StoreKind.POSTGRES,
            PostgresProductSearchProjection,
            lambda cat, stored: PostgresSearchReads(
                cat.read_pool, SearchTables.named(table_prefix(stored))
            ),
        ),
        ServiceReadModel(
            "category_stats",
            StoreKind.REDIS,
            RedisCategoryStatsProjection,
            redis_reads(RedisCategoryStatsReads),
        ),
        ServiceReadModel(
            "cart_view", StoreKind.REDIS, RedisCartViewProjection, redis_reads(RedisCartViewReads)
        ),
        ServiceReadModel(
            "order_view",
            StoreKind.REDIS,
            RedisOrderViewProjection,
            redis_reads(RedisOrderViewReads),
        ),
        ServiceReadModel(
            "sales_analytics",
            StoreKind.DUCKDB,
            SalesAnalyticsProjection,
            lambda cat, _: SalesAnalyticsReads(cat.duck_stores["sales_analytics"]),
        ),
        ServiceReadModel(
            "price_history",
            StoreKind.DUCKDB,
            PriceHistoryProjection,
            lambda cat, _: PriceHistoryReads(cat.duck_stores["price_history"]),
        ),
    ]


class ServicesCatalog:
    """Everything one services-profile process needs. `start` opens the connections."""

    def __init__(
        self,
        settings: Settings,
        *,
        roles: Collection[Role] = (Role.API,),
        worker_id: str | None = None,
    ) -> None:
        if not settings.services:
            raise SettingsError("the services profile needs a postgresql:// TANDEM_DATABASE_URL")
        self.settings = settings
        self.roles = frozenset(roles)
        self.metrics = Metrics()
        self.worker_id = worker_id or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.registry = EventRegistry()
        self.registry.register(*ALL_EVENTS)
        self.redis_prefix = settings.redis_prefix
        self.head = VersionWatch(0)
        self.read_models: dict[str, RunningReadModel] = {}
        self.dead_letter_counts: dict[str, int] = {}
        self.duck_stores: dict[str, Any] = {}
        self._specs = _service_read_models()
        self._tasks: list[asyncio.Task[None]] = []
        self._closers: list[Callable[[], Any]] = []
        self._started = False
        self._ready = asyncio.Event()

    # -- wiring ---------------------------------------------------------------------

    async def start(self, *, projections: bool = True) -> None:
        """Open pools and clients, check the schema, wire buses, start background work."""
        import redis.asyncio

        settings = self.settings
        assert settings.database_url
        self.pool = await create_pool(settings.database_url, min_size=2, max_size=20)
        self._closers.append(self.pool.close)
        async with self.pool.acquire() as conn:
            missing = await pending(conn, MIGRATIONS)
        if missing:
            raise SettingsError(
                f"the write database needs migrations ({', '.join(missing)}): run `tandem migrate`"
            )
        if settings.level != 1:  # level 1 reads the write database alone
            assert settings.read_database_url and settings.redis_url
            self.read_pool = await create_pool(settings.read_database_url, min_size=1, max_size=10)
            self._closers.append(self.read_pool.close)
            self.redis: redis.asyncio.Redis = redis.asyncio.Redis.from_url(settings.redis_url)
            self._closers.append(self.redis.aclose)
        self.dead_letters = dead_letter_table.PostgresDeadLetters(self.pool)
        self._spawn(count_dead_letters(self.dead_letters, self.dead_letter_counts), "letters")
        mode = pg_log.AppendMode(settings.event_log_mode)
        self.log = pg_log.PostgresEventLog(self.pool, mode)
        self.head.advance(await self.log.head())
        self.visible = pg_log.VisibleHead(self.log, self.head)
        self.listener = Listener(settings.database_url)
        self.listener.on(pg_log.NOTIFY_CHANNEL, self.visible.notified)
        self.listener.on_resync(self.visible.refresh)
        self._spawn(self.visible.run(), "visible-head")
        self.announcer = pg_log.CommitAnnouncer(self.pool)
        self._spawn(self.announcer.run(), "announcer")
        if Role.API in self.roles:
            await self._start_api(mode, projections=projections)
        if Role.WORKER in self.roles and projections and settings.level != 1:
            await self._start_worker()  # at level 1 no projection runs: workers idle
        self._spawn(self.listener.run(), "listener")
        self._started = True

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _start_api(self, mode: pg_log.AppendMode, *, projections: bool) -> None:
        if self.settings.level == 1:
            self._start_direct_api(mode)
            return
        remote: list[RemoteProjection] = []
        reads: list[Any] = []
        self.generations = ServedGenerations(self, self._specs)
        for spec in self._specs:
            if spec.store is StoreKind.DUCKDB:
                path = self.duck_path(spec.name)
                duck, runner = self.analytics_copy(spec, path)
                self.read_models[spec.name] = RunningReadModel(
                    runner, "duckdb (this process)", [duck.close, functools.partial(_unlink, path)]
                )
                await runner.start()
                if projections:
                    self._spawn(runner.run(), spec.name)
        await self.generations.open(reconcile=projections)
        for spec in self._specs:
            if spec.store is StoreKind.DUCKDB:
                reads.append(self.generations.reads[spec.name])
            else:
                stored = self.generations.stored(spec)
                tracked = RemoteProjection(
                    spec.name,
                    self.checkpoint_reader(spec, stored),
                    [p.name for p in self.parts(spec, stored)],
                    confirm_reads=spec.store is StoreKind.REDIS,
                )
                remote.append(tracked)
                self.read_models[spec.name] = RunningReadModel(tracked, spec.store.value)
                reads.append(self.generations.reads[spec.name])
        self.remote = RemoteProjections(self.pool, remote)
        self.listener.on(CHECKPOINT_CHANNEL, self.remote.notified)
        self.listener.on_resync(self.remote.refresh)
        await self.remote.refresh()
        self.listener.on(registry.CHANNEL, self.generations.notified)
        self.listener.on_resync(self.generations.refresh)
        self._spawn(self.generations.run(), "generations")
        live = LiveTracked(self.read_models)
        self.query_bus = QueryBus([timing(self.metrics.query_observed), consistency(live)])
        for read in reads:
            read.register(self.query_bus)
        self._wire_commands(mode)
        by_name = {spec.name: read for spec, read in zip(self._specs, reads, strict=True)}
        detail_reads = by_name["product_detail"]
        self.product_feed = ProductFeed(
            _redis_changes(detail_reads),
            self.read_models["product_detail"].tracked.checkpoint,
        )
        self._spawn(self.product_feed.run(), "product-feed")
        self.detail_cache = detail_cache.start(self)
        if self.detail_cache is not None:
            self._spawn(self.detail_cache.run(), "detail-cache")

    def _start_direct_api(self, mode: pg_log.AppendMode) -> None:
        """Level 1: queries read the write tables through the pool, at the log head."""
        direct = DirectReads.postgres(self.pool, self.head)
        self.query_bus = QueryBus(
            [timing(self.metrics.query_observed), consistency(direct.tracked)]
        )
        direct.reads.register(self.query_bus)
        self._wire_commands(mode)
        self.product_feed = direct.feed
        self._spawn(self.product_feed.run(), "product-feed")

    def _wire_commands(self, mode: pg_log.AppendMode) -> None:
        writer = PostgresWriter(
            self.pool, self.registry, SAVERS, mode=mode, on_commit=self._committed
        )
        self.command_bus: CommandBus[CatalogUnitOfWork] = CommandBus(
            lambda: PostgresCatalogUnitOfWork(writer),
            [
                timing(self.metrics.command_observed),
                validation,
                idempotency(PostgresIdempotency(self.pool), check_first=False),
            ],
        )
        handlers.register(self.command_bus)
        self.metrics.watch(self.status, lambda: self.head.value, writer.appended)

    def _committed(self, version: int) -> None:
        # The position is committed but becomes readable only below the horizon:
        # the visible-head follower advances `head` when it is.
        self.announcer.committed(version)
        self.visible.notified(str(version))

    def duck_path(self, name: str, generation: int = 1) -> Path:
        """This process's file for one copy of an analytics read model (made empty)."""
        folder = self.settings.data_dir / "read"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "" if generation == 1 else f".g{generation}"
        path = folder / f"{name}-{os.getpid()}{suffix}.duckdb"
        _unlink(path)
        return path

    def analytics_copy(self, spec: ServiceReadModel, path: Path) -> tuple[Any, ProjectionRunner]:
        """A DuckDB store at `path` and the runner folding the log into it."""
        from tandem.stores.duckdb import DuckDBProjectionStore

        store = DuckDBProjectionStore(path)
        runner = ProjectionRunner(
            spec.projection(), store, self.log, self.head, linger=ANALYTICS_LINGER
        )
        self.duck_stores.setdefault(spec.name, store)
        return store, runner

    def discard_analytics_copy(self, store: Any, path: Path) -> None:
        store.close()
        _unlink(path)

    def switch_analytics(
        self,
        spec: ServiceReadModel,
        store: Any,
        runner: ProjectionRunner,
        task: asyncio.Task[None],
        path: Path,
    ) -> None:
        """Serve an analytics read model from a new copy: queries, checkpoint and runner
        move in one step (no await), the old copy closes after a grace period."""
        running = self.read_models[spec.name]
        old = running.tracked
        assert isinstance(old, ProjectionRunner)
        self.duck_stores[spec.name] = store
        self.generations.reads[spec.name].switch(spec.reads(self, spec.projection))
        old_closers = running.closers
        running.closers = [store.close, functools.partial(_unlink, path)]
        running.tracked = runner
        for old_task in [t for t in self._tasks if t.get_name() == spec.name]:
            old_task.cancel()
            self._tasks.remove(old_task)
        self._tasks.append(task)
        self._spawn(follow(runner.checkpoint, old.checkpoint), f"forward:{spec.name}")
        self._spawn(_close_later(old_closers), f"retire:{spec.name}")

    def parking_target(self, name: str) -> tuple[Any, Any]:
        """The store and projection (or partition) whose dead letters are retried."""
        if self.settings.level == 1:
            raise KeyError(f"{name}: no projection runs at separation level 1")
        for spec in self.remote_specs:
            stored: type[Any] = spec.projection
            prefix = f"{spec.name}_g"
            if name.startswith(prefix) and name[len(prefix) :].split(".")[0].isdigit():
                number = int(name[len(prefix) :].split(".")[0])
                copy = registry.copy_of(spec.name, number, spec.projection.version)
                stored = stored_class(spec.projection, copy)
            for part in self.parts(spec, stored):
                if part.name == name:
                    if spec.store is StoreKind.REDIS:
                        from tandem.stores.redis import RedisProjectionStore

                        return RedisProjectionStore(self.redis, self.redis_prefix), part
                    from tandem.stores.postgres import PostgresProjectionStore

                    return PostgresProjectionStore(self.read_pool), part
        raise KeyError(f"{name} is not a projection the workers run")

    def partitions_of(self, name: str) -> int:
        return self.settings.partitions.get(name, 1)

    @property
    def remote_specs(self) -> list[ServiceReadModel]:
        """The read models workers fold (into Redis and the read database)."""
        return [spec for spec in self._specs if spec.store is not StoreKind.DUCKDB]

    def parts(
        self, spec: ServiceReadModel, stored: type[Any] | None = None
    ) -> list[AsyncProjection[Any]]:
        """The projection (as `stored`, one of its copies), or its partitions when the
        settings split it."""
        projection = stored or spec.projection
        count = self.partitions_of(spec.name)
        if count == 1:
            return [projection()]
        try:
            return list(partitions(projection, count))
        except ValueError as exc:
            raise SettingsError(f"TANDEM_PARTITIONS: {exc}") from exc

    def checkpoint_reader(
        self, spec: ServiceReadModel, stored: type[Any] | None = None
    ) -> Callable[[], Any]:
        """Reads the stored checkpoint of every part of one copy of a read model."""
        parts = self.parts(spec, stored)
        if spec.store is StoreKind.REDIS:
            from tandem.stores.redis import RedisProjectionStore

            store = RedisProjectionStore(self.redis, self.redis_prefix)

            async def read_redis() -> dict[str, int]:
                positions = await store.checkpoints([(p.name, p.version) for p in parts])
                return {p.name: position for p, position in zip(parts, positions, strict=True)}

            return read_redis
        from tandem.stores.postgres import PostgresProjectionStore

        pg_store = PostgresProjectionStore(self.read_pool)

        async def read_pg() -> dict[str, int]:
            return {p.name: await pg_store.checkpoint(p.name) for p in parts}

        return read_pg

    async def _start_worker(self) -> None:
        if self.settings.nats_url:
            import nats

            self.nats = await nats.connect(self.settings.nats_url, max_reconnect_attempts=-1)
            self._closers.append(self.nats.close)
        keeper = GenerationKeeper(self, self._specs)
        leases = lease_table.Leases(self.pool, self.worker_id)
        self.worker = ProjectionWorker(self.pool, leases, {}, discover=keeper.runners)
        self._spawn(keeper.run(), "generations")
        self._spawn(self.worker.run(), "worker")

    def durable_name(self, part: str) -> str:
        """The JetStream consumer a worker reads one projection part through."""
        return f"{self.redis_prefix}_{part}".replace(".", "_")

    def runner_factory(
        self, spec: ServiceReadModel, projection: AsyncProjection[Any]
    ) -> RunnerFactory:
        async def build() -> LeasedRunner:
            store: Any
            if spec.store is StoreKind.REDIS:
                from tandem.stores.redis import RedisProjectionStore

                store = RedisProjectionStore(self.redis, self.redis_prefix)
            else:
                from tandem.stores.postgres import PostgresProjectionStore

                store = PostgresProjectionStore(self.read_pool)
            poison: dict[str, Any] = {
                "policy": PoisonPolicy(self.settings.policy_of(spec.name)),
                "dead_letters": self.dead_letters,
            }
            if not self.settings.nats_url:
                # The direct PostgreSQL transport: the log itself, woken by notifications.
                runner = ProjectionRunner(projection, store, self.log, self.head, **poison)
                return LeasedRunner(runner)
            from tandem.transport.nats.reader import NatsEventReader

            reader = NatsEventReader(
                self.nats,
                stream=self.settings.nats_stream,
                subject_prefix=self.settings.nats_subjects,
                durable=self.durable_name(projection.name),
                fallback=self.log,
            )
            await reader.start()
            runner = ProjectionRunner(projection, store, reader, reader.arrivals, **poison)
            return LeasedRunner(runner, reader.close)

        return build

    # -- lifecycle and reporting ----------------------------------------------------

    async def stop(self) -> None:
        served = getattr(self, "generations", None)
        if served is not None:
            served.local.stop()
        await finish(reversed(self._tasks))
        self._tasks.clear()

    async def aclose(self) -> None:
        self.close()
        for close in reversed(self._closers):
            result = close()
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result
        self._closers.clear()

    def close(self) -> None:
        """Synchronous part of closing (files); `aclose` closes the connections."""
        for running in self.read_models.values():
            for close in running.closers:
                close()
            running.closers.clear()

    @property
    def rebuilds(self) -> dict[str, Rebuild]:
        """The newest rebuild of each read model, as the registry and stores show it."""
        served = getattr(self, "generations", None)
        return served.rebuilds if served is not None else {}

    async def rebuild(self, name: str) -> Rebuild:
        """Start a blue/green rebuild: workers fold a new copy beside the live one and
        promote it once it follows the log; API processes then switch to it."""
        spec = next((s for s in self._specs if s.name == name), None)
        if spec is None or self.settings.level == 1:
            raise KeyError(name)
        try:
            await registry.request(self.pool, name, int(spec.projection.version))
        except registry.RebuildRunning as exc:
            raise RebuildRefused(str(exc)) from None
        await self.generations.refresh()
        return self.rebuilds[name]

    async def refresh_rebuilds(self) -> None:
        """Read the registry now rather than at the next second's refresh."""
        if self.settings.level != 1:
            await self.generations.refresh()

    async def cancel_rebuild(self, name: str) -> Rebuild:
        if self.settings.level == 1 or await registry.cancel(self.pool, name) is None:
            raise KeyError(name)
        await self.generations.refresh()
        return self.rebuilds[name]

    def status(self) -> list[dict[str, Any]]:
        rows = describe_all(self.read_models, self.head.value, self.dead_letter_counts)
        served = getattr(self, "generations", None)
        for row in rows:
            name = str(row["name"])
            rebuild = self.rebuilds.get(name)
            row["version"] = served.version(name) if served is not None else None
            row["rebuild"] = rebuild.describe() if rebuild is not None else None
        return rows

    async def readiness(self) -> list[str]:
        problems: list[str] = []
        try:
            await self.pool.fetchval("SELECT 1")
        except Exception as exc:
            problems.append(f"write database: {exc}")
        if self.settings.level == 1:
            return problems
        try:
            await self.redis.ping()
        except Exception as exc:
            problems.append(f"redis: {exc}")
        try:
            await self.read_pool.fetchval("SELECT 1")
        except Exception as exc:
            problems.append(f"read database: {exc}")
        return problems

    async def load_tokens(self, verifier: Any) -> None:
        rows = await self.pool.fetch("SELECT digest, subject, scopes FROM tokens")
        verifier.load_rows((r["digest"], r["subject"], r["scopes"]) for r in rows)

    async def wait_until_caught_up(self, timeout: float = 30.0) -> bool:
        await self.visible.refresh()
        return await all_reach(self.read_models, self.head.value, timeout)


async def _close_later(closers: list[Callable[[], Any]]) -> None:
    """Close a replaced copy once the queries already running on it have finished."""
    try:
        await asyncio.sleep(SWITCH_GRACE)
    finally:
        for close in closers:
            close()


def _unlink(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def _redis_changes(switchable: Any) -> Any:
    """Product document versions for the live feed, from the projection's change streams
    (one per partition): every version applied, in order per product, even several of
    one product in one batch. After a rebuild switches copies, the new copy's streams are
    read from their start (entries at or below `since` are skipped)."""
    following = switchable.target
    cursors = ["-"] * following.partitions

    async def changes(since: int, wanted: Collection[str]) -> list[tuple[str, int, bytes]]:
        nonlocal following, cursors
        reads = switchable.target
        if reads is not following:
            following, cursors = reads, ["-"] * reads.partitions
        found: list[tuple[str, int, bytes]] = []
        for partition in range(reads.partitions):
            while True:
                rows = await reads.feed_after(cursors[partition], partition=partition)
                for entry, pid, position, doc in rows:
                    cursors[partition] = entry
                    if position > since and pid in wanted:
                        found.append((pid, position, doc))
                if len(rows) < 1000:
                    break
        return sorted(found, key=lambda row: row[1])

    return changes
