"""The background tasks of one process, ended together on stop.

A blue/green switch replaces a read model's runner task with its new copy's in one
step (`replace`), so the process never runs two runners of one read model, and a stop
ends whatever runs at that moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from tandem.stopping import finish


class Background:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run `work` until it ends or the process stops."""
        task = asyncio.create_task(work, name=name)
        self._tasks.append(task)
        return task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """End `task` with the others on stop (one started elsewhere)."""
        self._tasks.append(task)

    def replace(self, name: str, task: asyncio.Task[Any]) -> None:
        """Cancel the tasks called `name` and keep `task` in their place, without an
        await in between."""
        for old in [t for t in self._tasks if t.get_name() == name]:
            old.cancel()
            self._tasks.remove(old)
        self._tasks.append(task)

    async def stop(self) -> None:
        """Cancel every task, the newest first, and return once all have ended."""
        tasks, self._tasks = list(reversed(self._tasks)), []
        await finish(tasks)
