"""Blue/green rebuilds on the embedded profile.

An asynchronous read model's copy is a file of its own (`catalog.runtime.rebuilds.files`): a
new one is folded from position 0 beside the live one (`tandem.rebuilds.copies`) and,
once caught up, reads, checkpoint and runner switch to it in one step of the event
loop; the old file is dropped after a grace period. A `sync` read model's copy is a set
of tables in the write database, folded between commands (`tandem.rebuilds.sqlite`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
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
from tandem.projections.sync import SyncProjection, SyncReader
from tandem.rebuilds import sqlite as sync_rebuilds
from tandem.rebuilds.copies import build_copy, switched
from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.stores.switchable import Switchable
from tandem.uow.sqlite import SqliteWriter

log = logging.getLogger("catalog")

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
        self._readers = readers
        self._writer = writer
        self._write_reader = write_reader
        self._head = head
        self._folder = folder
        self._new_copy = new_copy
        self._background = background
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def live_file(self, name: str, kind: StoreKind) -> Path:
        return live_file(self._folder, name, SUFFIXES[kind])

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
            path = next_file(self._folder, name, SUFFIXES[kind])
            rebuild = Rebuild(name, path.name, type(tracked.projection).version)
            work = self._fold_file(rebuild, kind, path)
        self.rebuilds[name] = rebuild
        self._tasks[name] = self._background.spawn(work, name=f"rebuild:{name}")
        return rebuild

    def cancel(self, name: str) -> Rebuild:
        rebuild = self.rebuilds.get(name)
        task = self._tasks.get(name)
        if rebuild is None or task is None or rebuild.state is not RebuildState.RUNNING:
            raise KeyError(name)
        task.cancel()
        return rebuild

    async def _fold_file(self, rebuild: Rebuild, kind: StoreKind, path: Path) -> None:
        """Fold a new file until caught up, switch reads, checkpoint and runner to it in
        one step of the event loop, and drop the old file after a grace period."""
        name = rebuild.projection
        running = self._read_models[name]
        live = running.tracked
        assert isinstance(live, ProjectionRunner | OutdatedCopy)
        projection: Projection[Any] = type(live.projection)()  # type: ignore[assignment]
        copy = self._new_copy(kind, projection, path)

        def discard() -> None:
            copy.close()
            remove(path)

        task = await build_copy(
            rebuild,
            copy.runner,
            live=lambda: live.checkpoint,
            head=self._head,
            discard=discard,
        )
        if task is None:
            return
        # The switch: no await between these lines, so no query sees half of it.
        old_path = self.live_file(name, kind)
        point_to(self._folder, name, path)
        reader = self._readers[name]
        assert isinstance(reader, Switchable)  # an asynchronous read model's
        previous = reader.switch(copy.target)
        old_closers, running.closers = running.closers, [copy.close]
        running.tracked = copy.runner
        self._background.replace(name, task)
        self._background.spawn(follow(copy.runner.checkpoint, live.checkpoint))
        switched(rebuild, copy.runner)
        log.info("rebuild of %s switched to %s at %s", name, path.name, rebuild.checkpoint)
        del previous
        try:
            await asyncio.sleep(SWITCH_GRACE)  # queries already on the old copy finish
        finally:  # stopping the catalog meanwhile still drops the old copy
            for closer in old_closers:
                closer()
            remove(old_path)
