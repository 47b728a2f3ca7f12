"""The worker side of rebuilds: run the live and building copies, promote, drop.

Every worker process runs a keeper. Each second it:

1. gives every projection a registry row and starts a rebuild where the code declares
   a version the live copy was not built with (`tandem.rebuilds.postgres.reconcile`);
2. marks a building copy failed when one of its runners stopped in `failed`;
3. promotes a building copy once every part of it has applied what the log held a
   second earlier: it is following the log live, as the copy it replaces is;
4. drops the storage of copies given up, and of replaced ones after `DROP_GRACE`
   (API processes switch away within a second or two of a promotion).

Which runners a worker holds leases for follows the registry too (`runners`, asked by
`ProjectionWorker` before each rebalance): the live copy unless its version is not the
code's (a copy built by other code is served as it is, not run), and a building copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from catalog.read_models.registry import ServiceReadModel, StoreKind
from catalog.runtime.connections import ServiceConnections
from catalog.runtime.rebuilds.storage import drop_namespace, drop_tables, stored_class
from tandem.projections.worker import RunnerFactory, failed_part, forget_reports
from tandem.rebuilds import postgres as registry
from tandem.rebuilds.postgres import Copy

log = logging.getLogger("catalog.rebuilds")

DROP_GRACE = 10.0
INTERVAL = 1.0


class RebuildKeeper:
    def __init__(self, connections: ServiceConnections) -> None:
        self.connections = connections
        self.specs = connections.specs
        self.versions = {spec.name: int(spec.projection.version) for spec in self.specs}
        self._heads: dict[tuple[str, int], int] = {}

    async def runners(self) -> dict[str, RunnerFactory]:
        """A runner factory for every part of every copy workers should run now."""
        known = await registry.load(self.connections.pool)
        factories: dict[str, RunnerFactory] = {}
        for spec in self.specs:
            rows = known.get(spec.name, [])
            # No row yet: the first copy, at the code's version.
            copies: list[Copy | None] = [registry.live(rows)] if rows else [None]
            copies.append(registry.building(rows))
            for generation in copies:
                if generation is None and rows:
                    continue
                if generation is not None and generation.version != self.versions[spec.name]:
                    continue
                stored = stored_class(spec.projection, generation)
                for part in self.connections.parts(spec, stored):
                    factories[part.name] = self.connections.runner_factory(spec, part)
        return factories

    async def run(self) -> None:
        await registry.reconcile(self.connections.pool, self.versions)
        while True:
            try:
                await self.step()
            except (OSError, ConnectionError) as exc:
                log.warning("rebuilds: database unreachable: %s", exc)
            except Exception as exc:
                log.warning("rebuilds: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(INTERVAL)

    async def step(self) -> None:
        pool = self.connections.pool
        await registry.reconcile(pool, self.versions)
        known = await registry.load(pool)
        head = self.connections.head.value
        for spec in self.specs:
            generation = registry.building(known.get(spec.name, []))
            if generation is not None:
                await self._follow(spec, generation, head)
        for generation in await registry.to_drop(pool, DROP_GRACE):
            owner = next((s for s in self.specs if s.name == generation.projection), None)
            if owner is not None:
                await self.drop(owner, generation)
            await registry.dropped(pool, generation.projection, generation.generation)

    async def _follow(self, spec: ServiceReadModel, generation: Copy, head: int) -> None:
        pool = self.connections.pool
        stored = stored_class(spec.projection, generation)
        names = [part.name for part in self.connections.parts(spec, stored)]
        failed = await failed_part(pool, names)
        if failed is not None:
            error = f"{failed[0]}: {failed[1]}"
            log.warning("rebuild of %s failed: %s", spec.name, error)
            await registry.fail(pool, spec.name, generation.generation, error)
            return
        key = (spec.name, generation.generation)
        positions = await self.connections.checkpoint_reader(spec, stored)()
        reached = min(positions.values()) if positions else 0
        earlier = self._heads.get(key)
        self._heads[key] = head
        if earlier is not None and reached >= earlier:
            if await registry.promote(pool, spec.name, generation.generation):
                log.info(
                    "rebuild of %s: generation %s serves from %s",
                    spec.name,
                    generation.generation,
                    reached,
                )
            self._heads.pop(key, None)

    async def drop(self, spec: ServiceReadModel, generation: Copy) -> None:
        """Delete a copy's keys or tables, checkpoints, reports, leases and consumers."""
        from tandem.stores.postgres import table_prefix
        from tandem.stores.redis import is_cluster, namespace

        connections = self.connections
        stored = stored_class(spec.projection, generation)
        for part in connections.parts(spec, stored):
            if spec.store is StoreKind.REDIS:
                client = connections.redis
                tagged = is_cluster(client)
                ns = namespace(connections.redis_prefix, part.name, part.version, tagged=tagged)
                await drop_namespace(client, ns)
            else:
                await drop_tables(connections.read_pool, table_prefix(part), part.name)
            await forget_reports(connections.pool, part.name)
            await _delete_consumer(connections, part.name)
        log.info("dropped generation %s of %s", generation.generation, spec.name)


async def _delete_consumer(connections: ServiceConnections, part: str) -> None:
    """The copy's durable JetStream consumer, when workers read through one."""
    nc = connections.nats
    if nc is None:
        return
    from nats.js.errors import NotFoundError

    with contextlib.suppress(NotFoundError):
        await nc.jetstream().delete_consumer(
            connections.settings.nats_stream, connections.durable_name(part)
        )
