"""The steps of every blue/green rebuild, whatever holds the copy.

A rebuild creates a new, empty copy of a read model beside the live one, folds the log
into it until it has caught up, switches reads (and whatever applies events) to it,
tells whoever else serves the read model, and drops the replaced copy after a grace
period for the queries already running on it. A rebuild that fails or is cancelled
drops its new copy and leaves the live one serving. `run` takes every rebuild through
these steps and keeps its `Rebuild` progress; a `RebuildSteps` says how for one kind of
copy:

- `tandem.rebuilds.runners.RunnerCopy`: a copy folded by a projection runner of its
  own (an embedded read model's file, an API process's analytics);
- `tandem.rebuilds.sqlite.SyncCopy`: tables in the SQLite write database, folded
  between commands (a `sync` read model);
- on the services profile the workers' copies take the same steps across processes,
  driven by the registry in `tandem.rebuilds.postgres`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from tandem.rebuilds.progress import Rebuild, RebuildState

log = logging.getLogger("tandem.rebuilds")


class RebuildSteps(Protocol):
    """How one kind of copy is built, switched to and dropped."""

    async def create(self) -> None:
        """Make the new, empty copy."""
        ...

    async def catch_up(self, progress: Rebuild) -> None:
        """Fold the log into the copy until it has applied what the live copy has,
        keeping `progress` current; raise if the copy cannot get there."""
        ...

    async def switch(self, progress: Rebuild) -> None:
        """Serve from the copy from now on, in one step no query sees half of, and
        record the position it switched at in `progress.checkpoint`."""
        ...

    async def announce(self) -> None:
        """Tell other processes serving the read model that the copy is live."""
        ...

    async def discard(self, error: str | None) -> None:
        """Drop the new copy: the rebuild failed (`error`) or was cancelled (None)."""
        ...

    async def retire(self) -> None:
        """Drop the copy the switch replaced (no query reads it any longer)."""
        ...


async def run(progress: Rebuild, steps: RebuildSteps, *, grace: float) -> None:
    """Take one rebuild through its steps (see the module). A failure is recorded in
    `progress`, not raised; a cancellation is recorded, then raised."""
    try:
        await steps.create()
        await steps.catch_up(progress)
        await steps.switch(progress)
    except BaseException as exc:
        cancelled = isinstance(exc, asyncio.CancelledError)
        error = None if cancelled else f"{type(exc).__name__}: {exc}"
        try:
            await steps.discard(error)
        except Exception as dropping:  # the next start drops what is left
            log.warning("dropping the new copy of %s failed: %s", progress.projection, dropping)
        progress.finished = time.monotonic()
        if cancelled:
            progress.state = RebuildState.CANCELLED
            raise
        progress.state, progress.error = RebuildState.FAILED, error
        log.warning("rebuild of %s failed: %s", progress.projection, error)
        return
    progress.state, progress.finished = RebuildState.SWITCHED, time.monotonic()
    progress.head = max(progress.head, progress.checkpoint)
    log.info(
        "rebuild of %s switched to %s at %s",
        progress.projection,
        progress.target,
        progress.checkpoint,
    )
    try:
        await steps.announce()
        await asyncio.sleep(grace)  # queries already on the old copy finish
    finally:  # stopped meanwhile, the old copy is dropped all the same
        try:
            await steps.retire()
        except Exception as exc:  # the next start drops what is left
            log.warning("dropping the old copy of %s failed: %s", progress.projection, exc)
