"""The services profile's runtime: PostgreSQL, Redis, NATS JetStream.

One process plays one or more roles (`catalog.runtime.contract.Role`):

- `api` (`tandem serve`): commands on the PostgreSQL write database; queries from Redis
  and the PostgreSQL read database (analytics included), whose checkpoints it follows
  through workers' notifications. It folds nothing itself, so a new API process serves
  every read model at once.
- `worker` (`tandem worker`): runs the projections into Redis and the read database
  whose leases it holds, fed by the event log directly (LISTEN/NOTIFY wakes it) or by
  the JetStream stream when `TANDEM_NATS_URL` is set.

Pools and clients open inside the event loop, so `start` connects, then wires the
buses and read models of its roles. The relay (`tandem relay`) needs no runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from catalog.domain.events import ALL_EVENTS
from catalog.migrations import MIGRATIONS
from catalog.read_models import answers
from catalog.read_models.level1.wiring import DirectReads
from catalog.read_models.product_detail import cache as detail_cache
from catalog.read_models.product_detail.feed import ProductFeed, redis_changes
from catalog.read_models.registry import StoreKind, service_read_models
from catalog.runtime.connections import ServiceConnections
from catalog.runtime.contract import (
    ParkingTarget,
    RebuildRefused,
    RebuildUnsupported,
    Role,
    StatusRow,
)
from catalog.runtime.rebuilds.keeper import RebuildKeeper
from catalog.runtime.rebuilds.serving import ServedCopies
from catalog.runtime.rebuilds.storage import stored_class
from catalog.runtime.running import LiveTracked, RunningReadModel, all_reach
from catalog.runtime.status import count_dead_letters, describe_all
from catalog.settings import Settings, SettingsError
from catalog.tokens.postgres import PostgresTokens
from catalog.write import handlers
from catalog.write.postgres import SAVERS, PostgresCatalogUnitOfWork
from catalog.write.repositories import CatalogUnitOfWork
from tandem import leases
from tandem.background import Background
from tandem.bus import CommandBus, QueryBus
from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch
from tandem.db.postgres import create_pool
from tandem.db.postgres.notify import Listener
from tandem.deadletters.postgres import PostgresDeadLetters
from tandem.eventlog import postgres as pg_log
from tandem.eventlog.shared import KEEP, SharedReads
from tandem.metrics import Metrics
from tandem.middleware import consistency, idempotency, timing, validation
from tandem.migrations import pending
from tandem.projections.remote import RemoteProjection, RemoteProjections
from tandem.projections.worker import CHECKPOINT_CHANNEL, ProjectionWorker
from tandem.rebuilds import postgres as registry
from tandem.rebuilds.progress import Rebuild
from tandem.sessions import Sessions
from tandem.uow.postgres import PostgresIdempotency, PostgresWriter

if TYPE_CHECKING:
    from tandem.db.postgres import Pool
    from tandem.stores.redis import RedisClient

# Events a worker's runners share while they catch up (`SharedReads`): seven read models
# folding from position 0 go at speeds up to three times apart.
WORKER_WINDOW = 20_000


class ServicesRuntime:
    """Everything one services-profile process needs. `start` opens the connections."""

    tokens: PostgresTokens  # set by `start`

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
        self.sessions = Sessions(self.head)
        self.dead_letter_counts: dict[str, int] = {}
        # The read models of the code, replaceable before `start` (tests of versions).
        self.specs = service_read_models()
        self._read_models: dict[str, RunningReadModel] = {}
        self._background = Background()
        self._closers: list[Callable[[], Any]] = []
        self._copies: ServedCopies | None = None
        self.detail_cache: detail_cache.DetailCache | None = None
        self.answers: answers.Answers = {}

    @property
    def read_models(self) -> dict[str, RunningReadModel]:
        return self._read_models

    # The connections `start` opened (see `ServiceConnections`).

    @property
    def pool(self) -> Pool:
        return self.connections.pool

    @property
    def read_pool(self) -> Pool:
        return self.connections.read_pool

    @property
    def redis(self) -> RedisClient:
        return self.connections.redis

    @property
    def log(self) -> pg_log.PostgresEventLog:
        return self.connections.log

    # -- wiring ---------------------------------------------------------------------

    async def start(self, *, projections: bool = True) -> None:
        """Open pools and clients, check the schema, wire buses, start background work."""
        from tandem.stores.redis import connect

        settings = self.settings
        assert settings.database_url
        self.connections = connections = ServiceConnections(settings, self.specs, self.head)
        connections.pool = await create_pool(settings.database_url, min_size=2, max_size=20)
        self._closers.append(self.pool.close)
        self.tokens = PostgresTokens(self.pool)
        async with self.pool.acquire() as conn:
            missing = await pending(conn, MIGRATIONS)
        if missing:
            raise SettingsError(
                f"the write database needs migrations ({', '.join(missing)}): run `tandem migrate`"
            )
        if settings.level != 1:  # level 1 reads the write database alone
            assert settings.read_database_url and settings.redis_url
            # The queries of the read database are prepared statements whose best plan
            # does not depend on their values (a search's GIN scan, key lookups), so
            # they plan once: the default plans a search afresh at every execution,
            # about a third of its server time.
            connections.read_pool = await create_pool(
                settings.read_database_url,
                min_size=1,
                max_size=settings.read_pool_size,
                settings={"plan_cache_mode": "force_generic_plan"},
            )
            self._closers.append(self.read_pool.close)
            # One node, or a Redis Cluster for a `redis+cluster://` URL.
            connections.redis = connect(settings.redis_url)
            self._closers.append(self.redis.aclose)
        self.dead_letters = connections.dead_letters = PostgresDeadLetters(self.pool)
        spawn = self._background.spawn
        spawn(count_dead_letters(self.dead_letters, self.dead_letter_counts), "letters")
        mode = pg_log.AppendMode(settings.event_log_mode)
        connections.log = pg_log.PostgresEventLog(self.pool, mode)
        # A worker catching up folds several read models at their own speeds: the ones
        # behind read from what the first read, if it is within this many events.
        keep = WORKER_WINDOW if Role.WORKER in self.roles else KEEP
        connections.feed = SharedReads(connections.log, keep=keep)
        self.head.advance(await self.log.head())
        self.sessions.bind(await self.log.identity(), self.log.last_position)
        self.visible = pg_log.VisibleHead(self.log, self.head)
        self.listener = Listener(settings.database_url)
        self.listener.on(pg_log.NOTIFY_CHANNEL, self.visible.notified)
        self.listener.on_resync(self.visible.refresh)
        spawn(self.visible.run(), "visible-head")
        self.announcer = pg_log.CommitAnnouncer(self.pool)
        spawn(self.announcer.run(), "announcer")
        if Role.API in self.roles:
            await self._start_api(mode, projections=projections)
        if Role.WORKER in self.roles and projections and settings.level != 1:
            await self._start_worker()  # at level 1 no projection runs: workers idle
        spawn(self.listener.run(), "listener")

    async def _start_api(self, mode: pg_log.AppendMode, *, projections: bool) -> None:
        if self.settings.level == 1:
            self._start_direct_api(mode)
            return
        connections = self.connections
        served = self._copies = ServedCopies(connections, self._read_models)
        await served.open(reconcile=projections)
        remote: list[RemoteProjection] = []
        for spec in self.specs:
            stored = served.stored(spec)
            tracked = RemoteProjection(
                spec.name,
                connections.checkpoint_reader(spec, stored),
                [p.name for p in connections.parts(spec, stored)],
                confirm_reads=spec.store is StoreKind.REDIS,
            )
            remote.append(tracked)
            self._read_models[spec.name] = RunningReadModel(tracked, spec.store.value)
        self.remote = served.remote = RemoteProjections(self.pool, remote)
        self.listener.on(CHECKPOINT_CHANNEL, self.remote.notified)
        self.listener.on_resync(self.remote.refresh)
        await self.remote.refresh()
        self.listener.on(registry.CHANNEL, served.notified)
        self.listener.on_resync(served.refresh)
        self._background.spawn(served.run(), "copies")
        live = LiveTracked(self._read_models)
        self.query_bus = QueryBus([timing(self.metrics.query_observed), consistency(live)])
        self.strong_queries = self._strong_queries()
        for spec in self.specs:
            served.reads[spec.name].register(self.query_bus)
        self._wire_commands(mode)
        self.product_feed = ProductFeed(
            redis_changes(served.reads["product_detail"]),
            self._read_models["product_detail"].tracked.checkpoint,
        )
        self._background.spawn(self.product_feed.run(), "product-feed")
        self.detail_cache = detail_cache.start(
            self.query_bus,
            served.reads["product_detail"],
            self._read_models["product_detail"].tracked,
        )
        if self.detail_cache is not None:
            self._background.spawn(self.detail_cache.run(), "detail-cache")
        followed = {name: running.tracked for name, running in self._read_models.items()}
        copies = {name: answers.switchable(reads) for name, reads in served.reads.items()}
        self.answers = answers.start(
            self.query_bus, (answers.SEARCH, answers.STATS), copies, followed
        )
        for query, cached in self.answers.items():
            self._background.spawn(cached.run(), f"answers:{query.__name__}")

    def _start_direct_api(self, mode: pg_log.AppendMode) -> None:
        """Level 1: queries read the write tables through the pool, at the log head."""
        direct = DirectReads.postgres(self.pool, self.head)
        self.query_bus = direct.bus(self.metrics.query_observed)
        self.strong_queries = self._strong_queries()
        self._wire_commands(mode)
        self.product_feed = direct.feed
        self._background.spawn(self.product_feed.run(), "product-feed")

    def _strong_queries(self) -> QueryBus:
        """`consistency=strong`: the write tables, at the last committed position. Not
        the visible head: its horizon is the whole cluster's oldest transaction, so it
        can stay below a command another process has answered, while the snapshot a
        strong read takes holds every committed command."""
        committed = VersionWatch(self.head.value)
        log = self.log

        async def refresh() -> None:
            committed.advance(await log.last_position())

        direct = DirectReads.postgres(self.pool, committed)
        return direct.bus(self.metrics.query_observed, refresh)

    def _wire_commands(self, mode: pg_log.AppendMode) -> None:
        writer = PostgresWriter(
            self.pool,
            self.registry,
            SAVERS,
            mode=mode,
            on_commit=self._committed,
            max_event_bytes=self.settings.max_event_bytes,
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

    async def _start_worker(self) -> None:
        if self.settings.nats_url:
            from tandem.transport.nats import client as nats_client

            client = await nats_client.connect(self.settings.nats_url)
            self.connections.nats = client
            self._closers.append(client.close)
        keeper = RebuildKeeper(self.connections)
        assert self.settings.database_url
        lease_table = leases.Leases(self.pool, self.worker_id, url=self.settings.database_url)
        self.worker = ProjectionWorker(self.pool, lease_table, {}, discover=keeper.runners)
        self._background.spawn(keeper.run(), "rebuild-keeper")
        self._background.spawn(self.worker.run(), "worker")

    async def inspect(self) -> None:
        """Connect without running anything: checkpoints from the stores, states as the
        workers last reported them."""
        await self.start(projections=False)

    # -- lifecycle ------------------------------------------------------------------

    async def stop(self) -> None:
        await self._background.stop()

    def close(self) -> None:
        """Close what the read models hold open (`aclose` does it too)."""
        for running in self._read_models.values():
            running.close()

    async def aclose(self) -> None:
        self.close()
        for close in reversed(self._closers):
            result = close()
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result
        self._closers.clear()

    # -- reporting ------------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        served = self._copies
        versions = {
            name: served.version(name) if served is not None else None for name in self._read_models
        }
        return describe_all(
            self._read_models, self.head.value, self.dead_letter_counts, versions, self.rebuilds
        )

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

    async def wait_until_caught_up(self, timeout: float = 30.0) -> bool:
        await self.visible.refresh()
        return await all_reach(self._read_models, self.head.value, timeout)

    # -- operations -----------------------------------------------------------------

    @property
    def rebuilds(self) -> dict[str, Rebuild]:
        """The newest rebuild of each read model, as the registry and stores show it."""
        return self._copies.rebuilds if self._copies is not None else {}

    def _served(self) -> ServedCopies:
        if self.settings.level == 1 or self._copies is None:
            raise RebuildUnsupported
        return self._copies

    async def rebuild(self, name: str) -> Rebuild:
        """Start a blue/green rebuild: workers fold a new copy beside the live one and
        promote it once it follows the log; API processes then switch to it."""
        served = self._served()
        spec = next((s for s in self.specs if s.name == name), None)
        if spec is None:
            raise KeyError(name)
        try:
            await registry.request(self.pool, name, int(spec.projection.version))
        except registry.RebuildRunning as exc:
            raise RebuildRefused(str(exc)) from None
        await served.refresh()
        return self.rebuilds[name]

    async def cancel_rebuild(self, name: str) -> Rebuild:
        served = self._served()
        if await registry.cancel(self.pool, name) is None:
            raise KeyError(name)
        await served.refresh()
        return self.rebuilds[name]

    async def refresh_rebuilds(self) -> None:
        """Read the registry now rather than at the next second's refresh."""
        await self._served().refresh()

    def parking_target(self, name: str) -> ParkingTarget:
        """The store and projection (or partition) whose dead letters are retried."""
        if self.settings.level == 1:
            raise KeyError(f"{name}: no projection runs at separation level 1")
        connections = self.connections
        for spec in connections.specs:
            stored: type[Any] = spec.projection
            prefix = f"{spec.name}_g"
            if name.startswith(prefix) and name[len(prefix) :].split(".")[0].isdigit():
                number = int(name[len(prefix) :].split(".")[0])
                copy = registry.copy_of(spec.name, number, spec.projection.version)
                stored = stored_class(spec.projection, copy)
            for part in connections.parts(spec, stored):
                if part.name == name:
                    return connections.store(spec), part
        raise KeyError(f"{name} is not a projection the workers run")
