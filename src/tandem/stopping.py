"""Stopping background tasks for sure.

`task.cancel()` asks once; a task whose code (or a library under it) takes the
cancellation for something else goes on running, and whoever awaits it waits forever:
a worker that never stops, a shutdown that hangs. `finish` asks again every
`RECANCEL_AFTER` seconds until the task has ended, and logs each task that needed more
than one request, with where it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from tandem.taskdump import awaited_frames

log = logging.getLogger("tandem.stopping")

RECANCEL_AFTER = 1.0


async def finish(tasks: Iterable[asyncio.Task[Any]], *, every: float = RECANCEL_AFTER) -> None:
    """Cancel every task and return once all have ended, whatever they raised.

    Cancelled itself meanwhile, it still ends them first, then raises `CancelledError`:
    half a shutdown would leave tasks running on closed connections.
    """
    tasks = list(tasks)
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    interrupted = False
    while pending:
        try:
            await asyncio.wait(pending, timeout=every)
        except asyncio.CancelledError:
            interrupted = True
        still = [task for task in pending if not task.done()]
        for task in still:
            frames = awaited_frames(task.get_coro())
            log.warning(
                "task %s did not end when cancelled (%d requests pending; waiting in %s);"
                " cancelling it again",
                task.get_name(),
                task.cancelling(),
                " > ".join(frame.strip() for frame in frames) or "?",
            )
            task.cancel()
        pending = still
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the caller decided to stop it, not to report it
    if interrupted:
        raise asyncio.CancelledError
