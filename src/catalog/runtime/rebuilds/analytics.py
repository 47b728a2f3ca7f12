"""The read models each API process folds for itself (DuckDB analytics), and their
rebuilds.

A DuckDB file has one writer process, so every API process folds analytics into a file
of its own (`LocalAnalytics`). A rebuild of such a read model is therefore done by every
API process (`LocalCopies`): when the registry names a generation the process does not
serve yet (one being built, or one another process has already made live), the process
folds a new file from position 0 beside its live one (`AnalyticsCopy`) and
switches its queries and checkpoint to it in one step of the event loop. The first
process to finish makes the generation live in the registry; the others switch when
their own copy is ready. The old file is dropped after a grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.read_models.registry import ServiceReadModel
from catalog.runtime.connections import ServiceConnections
from catalog.runtime.rebuilds.files import remove
from catalog.runtime.running import RunningReadModel
from tandem.background import Background
from tandem.consistency import follow
from tandem.files import private_dir
from tandem.projections.runner import ProjectionRunner
from tandem.rebuilds import postgres as registry
from tandem.rebuilds.postgres import Copy
from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.rebuilds.runners import RunnerCopy
from tandem.rebuilds.steps import run
from tandem.stores.switchable import SwitchableReads

if TYPE_CHECKING:
    from tandem.stores.duckdb import DuckDBProjectionStore

log = logging.getLogger("catalog.rebuilds")

# Analytics run beside the API's event loop here: a DuckDB transaction at most four
# times a second (the fold itself runs on DuckDB's thread) keeps them from competing
# with requests for the interpreter, for a quarter of a second of lag.
ANALYTICS_LINGER = 0.25
# How long a replaced analytics copy stays open for the queries already running on it.
SWITCH_GRACE = 2.0


class LocalAnalytics:
    """This process's analytics files, their runners, and the switch between copies."""

    def __init__(
        self,
        connections: ServiceConnections,
        read_models: dict[str, RunningReadModel],
        background: Background,
    ) -> None:
        self.connections = connections
        self.read_models = read_models
        self.background = background

    def path(self, name: str, generation: int = 1) -> Path:
        """This process's file for one copy of an analytics read model (made empty)."""
        folder = self.connections.settings.data_dir / "read"
        private_dir(folder)
        suffix = "" if generation == 1 else f".g{generation}"
        path = folder / f"{name}-{os.getpid()}{suffix}.duckdb"
        remove(path)
        return path

    def open_copy(
        self, spec: ServiceReadModel, path: Path
    ) -> tuple[DuckDBProjectionStore, ProjectionRunner]:
        """A DuckDB store at `path` and the runner folding the log into it."""
        from tandem.stores.duckdb import DuckDBProjectionStore

        connections = self.connections
        store = DuckDBProjectionStore(path)
        runner = ProjectionRunner(
            spec.projection(), store, connections.feed, connections.head, linger=ANALYTICS_LINGER
        )
        connections.duck_stores.setdefault(spec.name, store)
        return store, runner

    def serve(self, spec: ServiceReadModel) -> ProjectionRunner:
        """Open the first copy of `spec` and serve it (folded from scratch: the file is
        this process's own)."""
        path = self.path(spec.name)
        store, runner = self.open_copy(spec, path)
        closers = [store.close, lambda: remove(path)]
        self.read_models[spec.name] = RunningReadModel(runner, "duckdb (this process)", closers)
        return runner

    def switch(
        self,
        spec: ServiceReadModel,
        reads: SwitchableReads,
        store: DuckDBProjectionStore,
        runner: ProjectionRunner,
        task: asyncio.Task[None],
        path: Path,
    ) -> list[Callable[[], None]]:
        """Serve an analytics read model from a new copy: queries, checkpoint and runner
        move in one step (no await). Returns how to close the old copy, once the queries
        already running on it have finished."""
        running = self.read_models[spec.name]
        old = running.tracked
        assert isinstance(old, ProjectionRunner)
        self.connections.duck_stores[spec.name] = store
        reads.switch(spec.reads(self.connections, spec.projection))
        old_closers = running.closers
        running.closers = [store.close, lambda: remove(path)]
        running.tracked = runner
        self.background.replace(spec.name, task)
        self.background.spawn(follow(runner.checkpoint, old.checkpoint), f"forward:{spec.name}")
        return old_closers


class LocalCopies:
    """The analytics rebuilds this process runs."""

    def __init__(
        self,
        analytics: LocalAnalytics,
        serving: dict[str, Copy | None],
        reads: dict[str, SwitchableReads],
    ) -> None:
        self.analytics = analytics
        self.rebuilds: dict[str, Rebuild] = {}
        self._serving = serving
        self._reads = reads
        self._folding: dict[str, tuple[int, asyncio.Task[None]]] = {}
        # Every fold's task, those retiring a replaced copy included, for `stop`.
        self._tasks: set[asyncio.Task[None]] = set()

    def folding(self, name: str) -> int | None:
        """The generation this process is folding or has just switched to (its old copy
        still retiring), if any."""
        running = self._folding.get(name)
        return running[0] if running is not None and not running[1].done() else None

    def ensure(self, spec: ServiceReadModel, generation: Copy) -> None:
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
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self, name: str) -> None:
        """Give up the fold of `name` if it has not switched yet (one that has is only
        waiting to close the copy it replaced, which queries may still be reading)."""
        running = self._folding.get(name)
        if running is not None and self.rebuilds[name].state is RebuildState.RUNNING:
            del self._folding[name]
            running[1].cancel()

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _fold(self, spec: ServiceReadModel, copy: Copy, rebuild: Rebuild) -> None:
        steps = AnalyticsCopy(self.analytics, spec, copy, self._serving, self._reads[spec.name])
        await run(rebuild, steps, grace=SWITCH_GRACE)


class AnalyticsCopy(RunnerCopy):
    """A new analytics file of this process. The first process to switch makes the copy
    live in the registry; a failure there marks it failed for every process."""

    def __init__(
        self,
        analytics: LocalAnalytics,
        spec: ServiceReadModel,
        copy: Copy,
        serving: dict[str, Copy | None],
        reads: SwitchableReads,
    ) -> None:
        path = analytics.path(spec.name, copy.generation)
        store, runner = analytics.open_copy(spec, path)

        def discard() -> None:
            store.close()
            remove(path)

        super().__init__(
            spec.name,
            runner,
            live=lambda: analytics.read_models[spec.name].tracked.checkpoint,
            head=analytics.connections.head,
            close=discard,
        )
        self._analytics = analytics
        self._spec = spec
        self._copy = copy
        self._serving = serving
        self._reads = reads
        self._store = store
        self._path = path
        self._old_closers: list[Callable[[], None]] = []

    async def switch(self, progress: Rebuild) -> None:
        self._old_closers = self._analytics.switch(
            self._spec, self._reads, self._store, self.runner, self.running_task(), self._path
        )
        self._serving[self.name] = self._copy
        self.record(progress)
        log.info("%s: this process serves generation %s", self.name, self._copy.generation)

    async def announce(self) -> None:
        pool = self._analytics.connections.pool
        await registry.promote(pool, self.name, self._copy.generation)

    async def discard(self, error: str | None) -> None:
        await super().discard(error)
        if error is not None:
            pool = self._analytics.connections.pool
            await registry.fail(pool, self.name, self._copy.generation, error)

    async def retire(self) -> None:
        for close in self._old_closers:
            close()
