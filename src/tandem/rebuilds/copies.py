"""Folding a new copy of a read model until it has caught up with the live one.

The one step every asynchronous rebuild shares, whatever the store: the copy's runner
folds the log from position 0 in a task of its own, and the copy is ready once it has
applied what the live copy has and what the log held when last looked at. The caller
then switches to it (in one step of the event loop) and keeps the runner's task, which
goes on following the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from tandem.consistency import VersionWatch
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.stopping import finish

log = logging.getLogger("tandem.rebuilds")

# How often the progress is brought up to date while the copy folds.
PROGRESS_EVERY = 0.2


async def build_copy(
    progress: Rebuild,
    runner: ProjectionRunner,
    *,
    live: Callable[[], VersionWatch],
    head: VersionWatch,
    discard: Callable[[], None],
) -> asyncio.Task[None] | None:
    """Run `runner` (into a new, empty copy) until it has applied `max(head, live())`;
    return its running task, to keep once the caller has switched to the copy.

    `live` gives the live copy's checkpoint (looked up each time: a rebuild may be
    racing another switch). A copy that fails is discarded and None returned, with
    `progress` saying why; a cancelled one is discarded and the cancellation raised.
    """
    task: asyncio.Task[None] | None = None
    try:
        await runner.start()
        task = asyncio.create_task(runner.run(), name=progress.projection)
        while True:
            goal = max(head.value, live().value)
            progress.head = goal
            if runner.state is ProjectionState.FAILED:
                raise RuntimeError(runner.error or "the new copy failed")
            if runner.checkpoint.value >= goal:
                break
            await runner.checkpoint.wait_for(goal, timeout=PROGRESS_EVERY)
            progress.checkpoint, progress.applied = runner.checkpoint.value, runner.events_applied
    except BaseException as exc:
        if task is not None:
            with contextlib.suppress(BaseException):
                await finish([task])
        discard()
        progress.finished = time.monotonic()
        if isinstance(exc, asyncio.CancelledError):
            progress.state = RebuildState.CANCELLED
            raise
        progress.state, progress.error = RebuildState.FAILED, f"{type(exc).__name__}: {exc}"
        log.warning("rebuild of %s failed: %s", progress.projection, progress.error)
        return None
    return task


def switched(progress: Rebuild, runner: ProjectionRunner) -> None:
    """Record in `progress` that reads moved to the copy `runner` folds."""
    progress.state, progress.checkpoint = RebuildState.SWITCHED, runner.checkpoint.value
    progress.applied, progress.finished = runner.events_applied, time.monotonic()
