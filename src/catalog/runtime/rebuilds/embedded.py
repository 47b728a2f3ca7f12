"""Blue/green rebuilds on the embedded profile, through the steps every rebuild takes
(`tandem.rebuilds.steps`).

An asynchronous read model's copy is a file of its own (`catalog.runtime.rebuilds.files`),
folded by a runner of its own (`FileCopy`) and, once caught up, switched to: reads,
checkpoint and runner move in one step of the event loop; the old file is dropped after
a grace period. A `sync` read model's copy is a set of tables in the write database,
folded between commands (`tandem.rebuilds.sqlite.SyncCopy`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from catalog.read_models.registry import StoreKind
from catalog.runtime.contract import RebuildRefused
from catalog.runtime.rebuilds.files import live_file, next_file, point_to, remove
from catalog.runtime.running import OutdatedCopy, RunningReadModel
from tandem.background import Background
from tandem.consistency import VersionWatch, follow
from tandem.db.sqlite import SqliteReader
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner
from tandem.rebuilds import sqlite as sync_rebuilds
from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.rebuilds.runners import RunnerCopy
from tandem.rebuilds.steps import run as steps_run
from tandem.stores.sqlite_sync import SyncProjection, SyncReader
from tandem.stores.switchable import Switchable
from tandem.uow.sqlite import SqliteWriter

SUFFIXES = {StoreKind.SQLITE: ".db", StoreKind.DUCKDB: ".duckdb"}
# Queries that picked the old copy just before a switch finish within this many seconds.
SWITCH_GRACE = 2.0
# Embedded projections apply on the event loop's thread (see SqliteDatabase.inline);
# batches this size keep each stretch of the loop to a few milliseconds.
INLINE_BATCH = 200


class AsyncCopy(NamedTuple):
    """One file of an asynchronous read model: the runner folding into it, what its
    queries read (a SQLite reader, or the DuckDB store) and how to close both."""

    runner: ProjectionRunner
    target: Any
    close: Callable[[], None]


CopyFactory = Callable[[StoreKind, Projection[Any], Path], AsyncCopy]
"""Opens a copy of a read model (its store kind, a fresh projection, its file)."""


class EmbeddedRebuilds:
    """Starts, follows and cancels the rebuilds of one embedded catalog."""

    def __init__(
        self,
        *,
        read_models: Mapping[str, RunningReadModel],
        readers: Mapping[str, Switchable | SyncReader],
        writer: SqliteWriter,
        write_reader: SqliteReader,
        head: VersionWatch,
        folder: Path,
        new_copy: CopyFactory,
        background: Background,
    ) -> None:
        self.rebuilds: dict[str, Rebuild] = {}
        self._read_models = read_models
        self.readers = readers
        self.head = head
        self.folder = folder
        self.background = background
        self._writer = writer
        self._write_reader = write_reader
        self._new_copy = new_copy
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def live_file(self, name: str, kind: StoreKind) -> Path:
        return live_file(self.folder, name, SUFFIXES[kind])

    def start(self, name: str) -> Rebuild:
        """Start a rebuild of `name` to the version its projection declares: an
        asynchronous one into a new file, a sync one into new tables of the write
        database."""
        running = self._read_models.get(name)
        if running is None:
            raise KeyError(name)
        current = self.rebuilds.get(name)
        if current is not None and current.state is RebuildState.RUNNING:
            raise RebuildRefused(f"{name} is being rebuilt already")
        tracked = running.tracked
        if isinstance(tracked, SyncProjection):
            generation = self._write_reader.call(
                functools.partial(sync_rebuilds.next_generation, name=name)
            )
            target = sync_rebuilds.storage_name(name, generation)
            rebuild = Rebuild(name, target, type(tracked.projection).version)
            work = sync_rebuilds.rebuild(
                self._writer,
                tracked,
                rebuild,
                generation,
                batch_size=INLINE_BATCH,
                grace=SWITCH_GRACE,
            )
        else:
            assert isinstance(tracked, ProjectionRunner | OutdatedCopy)
            kind = StoreKind(running.store_kind)
            path = next_file(self.folder, name, SUFFIXES[kind])
            rebuild = Rebuild(name, path.name, type(tracked.projection).version)
            work = self._fold_file(rebuild, kind, path)
        self.rebuilds[name] = rebuild
        self._tasks[name] = self.background.spawn(work, name=f"rebuild:{name}")
        return rebuild

    def cancel(self, name: str) -> Rebuild:
        rebuild = self.rebuilds.get(name)
        task = self._tasks.get(name)
        if rebuild is None or task is None or rebuild.state is not RebuildState.RUNNING:
            raise KeyError(name)
        task.cancel()
        return rebuild

    async def _fold_file(self, rebuild: Rebuild, kind: StoreKind, path: Path) -> None:
        running = self._read_models[rebuild.projection]
        live = running.tracked
        assert isinstance(live, ProjectionRunner | OutdatedCopy)
        projection: Projection[Any] = type(live.projection)()  # type: ignore[assignment]
        copy = self._new_copy(kind, projection, path)
        steps = FileCopy(self, running, copy, path, kind)
        await steps_run(rebuild, steps, grace=SWITCH_GRACE)


class FileCopy(RunnerCopy):
    """A new file of an asynchronous read model: switched to by pointing
    `NAME.live` at it and moving queries, checkpoint and runner in one step of the event
    loop; the old file is closed and removed when retired."""

    def __init__(
        self,
        rebuilds: EmbeddedRebuilds,
        running: RunningReadModel,
        copy: AsyncCopy,
        path: Path,
        kind: StoreKind,
    ) -> None:
        live = running.tracked

        def discard() -> None:
            copy.close()
            remove(path)

        super().__init__(
            live.name, copy.runner, live=lambda: live.checkpoint, head=rebuilds.head, close=discard
        )
        self._rebuilds = rebuilds
        self._running = running
        self._copy = copy
        self._path = path
        self._kind = kind
        self._old_path: Path | None = None
        self._old_closers: list[Callable[[], None]] = []

    async def switch(self, progress: Rebuild) -> None:
        # No await from here on: no query sees half of the switch.
        rebuilds, running, name = self._rebuilds, self._running, self.name
        live = running.tracked
        self._old_path = rebuilds.live_file(name, self._kind)
        point_to(rebuilds.folder, name, self._path)
        reader = rebuilds.readers[name]
        assert isinstance(reader, Switchable)  # an asynchronous read model's
        reader.switch(self._copy.target)
        self._old_closers, running.closers = running.closers, [self._copy.close]
        running.tracked = self.runner
        rebuilds.background.replace(name, self.running_task())
        rebuilds.background.spawn(follow(self.runner.checkpoint, live.checkpoint))
        progress.checkpoint, progress.applied = (
            self.runner.checkpoint.value,
            self.runner.events_applied,
        )

    async def retire(self) -> None:
        for close in self._old_closers:
            close()
        if self._old_path is not None:
            remove(self._old_path)
