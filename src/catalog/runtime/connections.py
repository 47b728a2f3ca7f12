"""The services profile's connections, and what each read model is addressed by
through them: its parts (partitions), stores, stored checkpoints and runners.

The runtime opens them in `start`; the rebuild keeper and the serving side take them
from here, not from the runtime, so they depend on nothing above them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from catalog.read_models.registry import ServiceReadModel, StoreKind
from catalog.settings import Settings, SettingsError
from tandem.consistency import VersionWatch
from tandem.eventlog.shared import SharedReads
from tandem.projections.base import AsyncProjection
from tandem.projections.partitions import partitions
from tandem.projections.runner import PoisonPolicy, ProjectionRunner
from tandem.projections.worker import LeasedRunner, RunnerFactory

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats

    from tandem.db.postgres import Pool
    from tandem.deadletters.postgres import PostgresDeadLetters
    from tandem.eventlog.postgres import PostgresEventLog
    from tandem.stores.redis import RedisClient

CheckpointReader = Callable[[], Awaitable[dict[str, int]]]
# Events a runner reads at a time: when live, and when behind on the stream.
BATCH = 500
"""Reads the stored checkpoint of every part of one copy of a read model."""


class ServiceConnections:
    """Pools and clients of one services process (those its roles need)."""

    pool: Pool
    read_pool: Pool
    redis: RedisClient
    log: PostgresEventLog
    # What this process's runners read the log through: one query for all of them.
    feed: SharedReads
    dead_letters: PostgresDeadLetters

    def __init__(self, settings: Settings, specs: list[ServiceReadModel], head: VersionWatch):
        self.settings = settings
        self.specs = specs
        self.head = head
        self.redis_prefix = settings.redis_prefix
        self.nats: Nats | None = None

    def partitions_of(self, name: str) -> int:
        return self.settings.partitions.get(name, 1)

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

    def store(self, spec: ServiceReadModel) -> Any:
        """The projection store a worker-fed read model lives in."""
        if spec.store is StoreKind.REDIS:
            from tandem.stores.redis import RedisProjectionStore

            return RedisProjectionStore(self.redis, self.redis_prefix)
        from tandem.stores.postgres import PostgresProjectionStore

        return PostgresProjectionStore(self.read_pool)

    def checkpoint_reader(
        self, spec: ServiceReadModel, stored: type[Any] | None = None
    ) -> CheckpointReader:
        """Reads the stored checkpoint of every part of one copy of a read model."""
        parts = self.parts(spec, stored)
        store = self.store(spec)
        if spec.store is StoreKind.REDIS:

            async def read_redis() -> dict[str, int]:
                positions = await store.checkpoints([(p.name, p.version) for p in parts])
                return {p.name: position for p, position in zip(parts, positions, strict=True)}

            return read_redis

        async def read_pg() -> dict[str, int]:
            return {p.name: await store.checkpoint(p.name) for p in parts}

        return read_pg

    def durable_name(self, part: str) -> str:
        """The JetStream consumer a worker reads one projection part through."""
        return f"{self.redis_prefix}_{part}".replace(".", "_")

    def runner_factory(
        self, spec: ServiceReadModel, projection: AsyncProjection[Any]
    ) -> RunnerFactory:
        """Builds the runner of one part when a worker takes its lease: fed by the log
        itself (woken by notifications) or by a durable JetStream consumer."""

        async def build() -> LeasedRunner:
            store = self.store(spec)
            poison: dict[str, Any] = {
                "policy": PoisonPolicy(self.settings.policy_of(spec.name)),
                "dead_letters": self.dead_letters,
            }
            if self.nats is None:
                runner = ProjectionRunner(
                    projection, store, self.feed, self.head, batch_size=BATCH, **poison
                )
                return LeasedRunner(runner)
            from tandem.transport.nats.reader import NatsEventReader

            reader = NatsEventReader(
                self.nats,
                stream=self.settings.nats_stream,
                subject_prefix=self.settings.nats_subjects,
                durable=self.durable_name(projection.name),
                fallback=self.log,
                replicas=self.settings.nats_replicas,
            )
            await reader.start()
            # Fixed batches: the reader serves from a buffer of at most its consumer's
            # `max_ack_pending` messages, acked a batch behind, so larger reads would
            # only find it short.
            runner = ProjectionRunner(
                projection, store, reader, reader.arrivals, max_batch_size=BATCH, **poison
            )
            return LeasedRunner(runner, reader.close)

        return build
