"""The API side of rebuilds: serve the live copy, switch when a rebuild is promoted.

An API process reads one stored copy per read model. When the registry names another
copy live (a rebuild was promoted), the process switches to it once the new copy has
applied at least what the old one had: the query handlers and the checkpoint the
consistency middleware waits on move together, in one step of the event loop, so no
query sees half of it and no read goes back in time. Until then the old copy serves.

The registry is re-read on `NOTIFY tandem_generations` and at every resync of the
listener (after a reconnect, and every second); the progress
of the newest rebuild of each read model is kept in `rebuilds` for `/status`,
`/stream/progress`, `/metrics` and `GET /admin/projections/{name}/rebuild`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from catalog.read_models.registry import ServiceReadModel
from catalog.runtime.connections import ServiceConnections
from catalog.runtime.rebuilds.storage import stored_class
from catalog.runtime.running import RunningReadModel
from tandem.eventlog.postgres import count_up_to
from tandem.projections.remote import RemoteProjection, RemoteProjections
from tandem.rebuilds import postgres as registry
from tandem.rebuilds.postgres import Copy, CopyState
from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.stores.switchable import SwitchableReads

log = logging.getLogger("catalog.rebuilds")

# How often the events behind a running rebuild's checkpoint are counted (a count over
# the log: cheap, not free).
COUNT_EVERY = 2.0

_STATES = {
    CopyState.BUILDING: RebuildState.RUNNING,
    CopyState.LIVE: RebuildState.SWITCHED,
    CopyState.RETIRED: RebuildState.SWITCHED,
    CopyState.CANCELLED: RebuildState.CANCELLED,
    CopyState.FAILED: RebuildState.FAILED,
}


class ServedCopies:
    def __init__(
        self,
        connections: ServiceConnections,
        read_models: dict[str, RunningReadModel],
    ) -> None:
        self.connections = connections
        self.specs = connections.specs
        self.read_models = read_models
        self.serving: dict[str, Copy | None] = {}
        self.reads: dict[str, SwitchableReads] = {}
        self.rebuilds: dict[str, Rebuild] = {}
        # The workers' reports, once the runtime follows them (progress of rebuilds).
        self.remote: RemoteProjections | None = None
        self.wake = asyncio.Event()
        self._counted: dict[str, tuple[float, int, int]] = {}

    async def open(self, *, reconcile: bool = True) -> None:
        """Read the registry and build each read model's reads on its live copy.
        `reconcile`: register the code's versions first (not for a look at the status)."""
        if reconcile:
            versions = {spec.name: int(spec.projection.version) for spec in self.specs}
            await registry.reconcile(self.connections.pool, versions)
        known = await registry.load(self.connections.pool)
        for spec in self.specs:
            generation = registry.live(known.get(spec.name, []))
            self.serving[spec.name] = generation
            self.reads[spec.name] = SwitchableReads(spec.reads(self.connections, self.stored(spec)))

    def stored(self, spec: ServiceReadModel) -> type[Any]:
        return stored_class(spec.projection, self.serving.get(spec.name))

    def version(self, name: str) -> int | None:
        generation = self.serving.get(name)
        if generation is not None:
            return generation.version
        spec = next((s for s in self.specs if s.name == name), None)
        return None if spec is None else int(spec.projection.version)

    def notified(self, _payload: str) -> None:
        self.wake.set()

    async def run(self) -> None:
        """Refresh on every notification (the listener also resyncs every second)."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self.refresh()
            except Exception as exc:  # the registry may be back next second
                log.warning("rebuilds: %s: %s", type(exc).__name__, exc)

    async def refresh(self) -> None:
        known = await registry.load(self.connections.pool)
        for spec in self.specs:
            generation = registry.live(known.get(spec.name, []))
            current = self.serving.get(spec.name)
            if generation is not None and (
                current is None or generation.generation != current.generation
            ):
                await self._switch(spec, generation)
        await self._progress(known)

    async def _switch(self, spec: ServiceReadModel, generation: Copy) -> None:
        tracked = self.read_models[spec.name].tracked
        assert isinstance(tracked, RemoteProjection)
        stored = stored_class(spec.projection, generation)
        read_checkpoint = self.connections.checkpoint_reader(spec, stored)
        positions = await read_checkpoint()
        reads = spec.reads(self.connections, stored)
        if not positions or min(positions.values()) < tracked.checkpoint.value:
            return  # the new copy has not applied what this process served yet
        # The switch: no await from here on.
        tracked.retarget(read_checkpoint, positions)
        self.reads[spec.name].switch(reads)
        self.serving[spec.name] = generation
        log.info(
            "%s: serving generation %s from %s",
            spec.name,
            generation.generation,
            tracked.checkpoint.value,
        )

    async def _progress(self, known: dict[str, list[Copy]]) -> None:
        for spec in self.specs:
            generation = registry.latest_rebuild(known.get(spec.name, []))
            if generation is not None:
                self.rebuilds[spec.name] = await self._describe(spec, generation)

    async def _describe(self, spec: ServiceReadModel, generation: Copy) -> Rebuild:
        connections = self.connections
        stored = stored_class(spec.projection, generation)
        parts = [part.name for part in connections.parts(spec, stored)]
        state = _STATES[generation.state]
        rebuild = Rebuild(spec.name, generation.storage_name, generation.version, state)
        reports = self.remote.reports if self.remote is not None else {}
        rebuild.applied = sum(
            int(reports[part]["events_applied"]) for part in parts if part in reports
        )
        rebuild.error = generation.error
        now = time.time()
        rebuild.started = time.monotonic() - (now - generation.requested_at.timestamp())
        if generation.switched_at is not None and state is not RebuildState.RUNNING:
            rebuild.finished = time.monotonic() - (now - generation.switched_at.timestamp())
        if state is RebuildState.RUNNING:
            positions = await connections.checkpoint_reader(spec, stored)()
            rebuild.checkpoint = min(positions.values()) if positions else 0
            rebuild.head = connections.head.value
            rebuild.done, rebuild.total = await self._count(spec.name, rebuild)
        else:
            previous = self.rebuilds.get(spec.name)
            if previous is not None and previous.target == rebuild.target:
                rebuild.checkpoint, rebuild.head = previous.checkpoint, previous.head
                rebuild.done, rebuild.total = previous.done, previous.total
        return rebuild

    async def _count(self, name: str, rebuild: Rebuild) -> tuple[int, int]:
        """Events at or below the copy's checkpoint, and at or below the head (positions
        on PostgreSQL are transaction ids, not event counts)."""
        counted = self._counted.get(name)
        if counted is not None and time.monotonic() - counted[0] < COUNT_EVERY:
            return counted[1], counted[2]
        done, total = await count_up_to(self.connections.pool, rebuild.checkpoint, rebuild.head)
        self._counted[name] = (time.monotonic(), done, total)
        return done, total
