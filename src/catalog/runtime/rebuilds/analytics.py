"""The read models each API process folds for itself (DuckDB analytics), and their
rebuilds.

A DuckDB file has one writer process, so every API process folds analytics into a file
of its own (`LocalAnalytics`). A rebuild of such a read model is therefore done by every
API process (`LocalCopies`): when the registry names a generation the process does not
serve yet (one being built, or one another process has already made live), the process
folds a new file from position 0 beside its live one (`tandem.rebuilds.copies`) and
switches its queries and checkpoint to it in one step of the event loop. The first
process to finish makes the generation live in the registry; the others switch when
their own copy is ready. The old file is dropped after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.read_models.registry import ServiceReadModel
from catalog.runtime.connections import ServiceConnections
from catalog.runtime.running import RunningReadModel
from tandem.background import Background
from tandem.consistency import follow
from tandem.projections.runner import ProjectionRunner
from tandem.rebuilds import postgres as registry
from tandem.rebuilds.copies import build_copy, switched
from tandem.rebuilds.postgres import Copy
from tandem.rebuilds.progress import Rebuild
from tandem.stores.switchable import SwitchableReads

if TYPE_CHECKING:
    from tandem.stores.duckdb import DuckDBProjectionStore

log = logging.getLogger("catalog.rebuilds")

# Analytics run beside the API's event loop here: one DuckDB transaction a second keeps
# them from competing with requests for the interpreter, for a second of lag.
ANALYTICS_LINGER = 1.0
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
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "" if generation == 1 else f".g{generation}"
        path = folder / f"{name}-{os.getpid()}{suffix}.duckdb"
        unlink(path)
        return path

    def open_copy(
        self, spec: ServiceReadModel, path: Path
    ) -> tuple[DuckDBProjectionStore, ProjectionRunner]:
        """A DuckDB store at `path` and the runner folding the log into it."""
        from tandem.stores.duckdb import DuckDBProjectionStore

        connections = self.connections
        store = DuckDBProjectionStore(path)
        runner = ProjectionRunner(
            spec.projection(), store, connections.log, connections.head, linger=ANALYTICS_LINGER
        )
        connections.duck_stores.setdefault(spec.name, store)
        return store, runner

    def serve(self, spec: ServiceReadModel) -> ProjectionRunner:
        """Open the first copy of `spec` and serve it (folded from scratch: the file is
        this process's own)."""
        path = self.path(spec.name)
        store, runner = self.open_copy(spec, path)
        closers = [store.close, lambda: unlink(path)]
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
    ) -> None:
        """Serve an analytics read model from a new copy: queries, checkpoint and runner
        move in one step (no await), the old copy closes after a grace period."""
        running = self.read_models[spec.name]
        old = running.tracked
        assert isinstance(old, ProjectionRunner)
        self.connections.duck_stores[spec.name] = store
        reads.switch(spec.reads(self.connections, spec.projection))
        old_closers = running.closers
        running.closers = [store.close, lambda: unlink(path)]
        running.tracked = runner
        self.background.replace(spec.name, task)
        self.background.spawn(follow(runner.checkpoint, old.checkpoint), f"forward:{spec.name}")
        self.background.spawn(_close_later(old_closers), f"retire:{spec.name}")


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

    def folding(self, name: str) -> int | None:
        """The generation this process is folding a copy of, if any."""
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

    def cancel(self, name: str) -> None:
        running = self._folding.pop(name, None)
        if running is not None:
            running[1].cancel()

    def stop(self) -> None:
        for name in list(self._folding):
            self.cancel(name)

    async def _fold(self, spec: ServiceReadModel, generation: Copy, rebuild: Rebuild) -> None:
        analytics = self.analytics
        connections = analytics.connections
        name = spec.name
        path = analytics.path(name, generation.generation)
        store, runner = analytics.open_copy(spec, path)

        def discard() -> None:
            store.close()
            unlink(path)

        task = await build_copy(
            rebuild,
            runner,
            live=lambda: analytics.read_models[name].tracked.checkpoint,
            head=connections.head,
            discard=discard,
        )
        if task is None:
            assert rebuild.error is not None
            await registry.fail(connections.pool, name, generation.generation, rebuild.error)
            return
        analytics.switch(spec, self._reads[name], store, runner, task, path)
        self._serving[name] = generation
        switched(rebuild, runner)
        log.info("%s: this process serves generation %s", name, generation.generation)
        await registry.promote(connections.pool, name, generation.generation)


async def _close_later(closers: list[Callable[[], Any]]) -> None:
    """Close a replaced copy once the queries already running on it have finished."""
    try:
        await asyncio.sleep(SWITCH_GRACE)
    finally:
        for close in closers:
            close()


def unlink(path: Path) -> None:
    """A DuckDB file and its write-ahead log."""
    for candidate in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
