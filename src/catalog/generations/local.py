"""Rebuilds of the read models each API process folds for itself (DuckDB analytics).

A DuckDB file has one writer process, so every API process folds analytics into a file
of its own. A rebuild of such a read model is therefore done by every API process: when
the registry names a generation the process does not serve yet (one being built, or one
another process has already made live), the process folds a new file from position 0
beside its live one, follows the log until it has applied what the live one had, and
switches its queries and checkpoint to it in one step of the event loop. The first
process to finish makes the generation live in the registry; the others switch when
their own copy is ready. The old file is dropped after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from tandem import generations as registry
from tandem.generations import Generation
from tandem.projections.rebuild import Rebuild, RebuildState
from tandem.projections.runner import ProjectionState
from tandem.stopping import finish

if TYPE_CHECKING:
    from catalog.bootstrap_services import ServiceReadModel, ServicesCatalog

log = logging.getLogger("catalog.generations")


class LocalCopies:
    def __init__(self, catalog: ServicesCatalog) -> None:
        self.catalog = catalog
        self.rebuilds: dict[str, Rebuild] = {}
        self._folding: dict[str, tuple[int, asyncio.Task[None]]] = {}

    def folding(self, name: str) -> int | None:
        """The generation this process is folding a copy of, if any."""
        running = self._folding.get(name)
        return running[0] if running is not None and not running[1].done() else None

    def ensure(self, spec: ServiceReadModel, generation: Generation) -> None:
        """Fold `generation` here unless already doing so (a fold of another is given up)."""
        if self.folding(spec.name) == generation.generation:
            return
        self.cancel(spec.name)
        rebuild = Rebuild(spec.name, generation.storage_name, generation.version)
        self.rebuilds[spec.name] = rebuild
        task = asyncio.create_task(
            self._fold(spec, generation, rebuild), name=f"rebuild:{spec.name}"
        )
        self._folding[spec.name] = (generation.generation, task)

    def cancel(self, name: str) -> None:
        running = self._folding.pop(name, None)
        if running is not None:
            running[1].cancel()

    def stop(self) -> None:
        for name in list(self._folding):
            self.cancel(name)

    async def _fold(self, spec: ServiceReadModel, generation: Generation, rebuild: Rebuild) -> None:
        catalog = self.catalog
        name = spec.name
        path = catalog.duck_path(name, generation.generation)
        store, runner = catalog.analytics_copy(spec, path)
        task: asyncio.Task[None] | None = None
        try:
            await runner.start()
            task = asyncio.create_task(runner.run(), name=name)
            while True:
                live = catalog.read_models[name].tracked
                goal = max(catalog.head.value, live.checkpoint.value)
                rebuild.head = goal
                if runner.state is ProjectionState.FAILED:
                    raise RuntimeError(runner.error or "the new copy failed")
                if runner.checkpoint.value >= goal:
                    break
                await runner.checkpoint.wait_for(goal, timeout=0.2)
                rebuild.checkpoint, rebuild.applied = runner.checkpoint.value, runner.events_applied
        except BaseException as exc:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await finish([task])
            catalog.discard_analytics_copy(store, path)
            rebuild.finished = time.monotonic()
            if isinstance(exc, asyncio.CancelledError):
                rebuild.state = RebuildState.CANCELLED
                raise
            rebuild.state, rebuild.error = RebuildState.FAILED, f"{type(exc).__name__}: {exc}"
            log.warning("rebuild of %s failed: %s", name, rebuild.error)
            await registry.fail(catalog.pool, name, generation.generation, rebuild.error)
            return
        assert task is not None
        catalog.switch_analytics(spec, store, runner, task, path)
        catalog.generations.serving[name] = generation
        rebuild.state, rebuild.checkpoint = RebuildState.SWITCHED, runner.checkpoint.value
        rebuild.applied, rebuild.finished = runner.events_applied, time.monotonic()
        log.info("%s: this process serves generation %s", name, generation.generation)
        await registry.promote(catalog.pool, name, generation.generation)
