"""A rebuild's copy folded by a projection runner of its own.

The copy's runner folds the log from position 0 in a task of its own, and the copy has
caught up once it has applied what the live copy has and what the log held when last
looked at. After the switch the task goes on following the log; the caller keeps it
(see `RunnerCopy.task`). What a switch and a retirement mean depends on where the copy
lives: subclasses say (`switch`, `retire`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tandem.consistency import VersionWatch
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.rebuilds.progress import Rebuild
from tandem.stopping import finish

# How often the progress is brought up to date while the copy folds.
PROGRESS_EVERY = 0.2


class RunnerCopy:
    """The create, catch-up and discard steps of a runner-folded copy."""

    def __init__(
        self,
        name: str,
        runner: ProjectionRunner,
        *,
        live: Callable[[], VersionWatch],
        head: VersionWatch,
        close: Callable[[], None],
    ) -> None:
        # `live` gives the live copy's checkpoint, looked up each time (a rebuild may
        # race another switch); `close` closes the copy's store and removes its files.
        self.name = name
        self.runner = runner
        self.task: asyncio.Task[None] | None = None
        self._live = live
        self._head = head
        self._close = close

    async def create(self) -> None:
        await self.runner.start()
        # Named after the read model: a later switch replaces the runner task by name.
        self.task = asyncio.create_task(self.runner.run(), name=self.name)

    async def catch_up(self, progress: Rebuild) -> None:
        runner = self.runner
        while True:
            goal = max(self._head.value, self._live().value)
            progress.head = goal
            if runner.state is ProjectionState.FAILED:
                raise RuntimeError(runner.error or "the new copy failed")
            if runner.checkpoint.value >= goal:
                break
            await runner.checkpoint.wait_for(goal, timeout=PROGRESS_EVERY)
            self.record(progress)
        self.record(progress)

    def record(self, progress: Rebuild) -> None:
        """Bring `progress` to where the copy's runner is."""
        progress.checkpoint = self.runner.checkpoint.value
        progress.applied = self.runner.events_applied

    async def announce(self) -> None:
        """Nothing to tell: this process is the only one serving the copy."""

    async def discard(self, error: str | None) -> None:
        if self.task is not None:
            with contextlib.suppress(BaseException):
                await finish([self.task])
        self._close()

    def running_task(self) -> asyncio.Task[None]:
        """The runner's task, to keep once switched."""
        assert self.task is not None
        return self.task
