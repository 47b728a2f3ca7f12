"""Following a read model at each advance of its checkpoint, for what a process keeps
in memory of it (the product-detail near cache, cached answers).

Such a cache reads what the read model recorded since its cursor whenever the
checkpoint it follows advances. `follow` runs that read (`sync`) once at the start and
again after every advance, folding advances that come while a read runs into one more
read; a read that fails drops the cache (`drop`) and is tried again after a pause,
since whatever the cache held may have missed what that read would have brought (a
failure is logged once, not at every retry: a store not set up yet fails for a while).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tandem.consistency import VersionWatch

log = logging.getLogger("catalog.following")

RETRY_AFTER = 0.5


async def follow(
    checkpoint: VersionWatch,
    wake: asyncio.Event,
    sync: Callable[[], Awaitable[None]],
    drop: Callable[[], None],
    what: str,
) -> None:
    """Run `sync` whenever `wake` is set, which each advance of `checkpoint` does (and
    anyone may), until cancelled; `drop` when it fails."""
    advanced = checkpoint.listen()
    wake.set()
    forward = asyncio.create_task(_forward(advanced, wake), name=f"{what}: wake")
    failing: str | None = None  # the failure being retried, said once
    try:
        while True:
            if _cancelling():
                # A driver caught this task's cancellation and returned as if nothing
                # happened (redis-py can, in a narrow race): the follower still ends,
                # or whoever cancelled it would wait forever.
                raise asyncio.CancelledError
            await wake.wait()
            wake.clear()
            try:
                await sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelling():
                    # A driver turned this task's cancellation into an error of its own
                    # (a read cut off mid-reply): the follower still ends, or whoever
                    # cancelled it would wait forever.
                    raise asyncio.CancelledError from exc
                reason = f"{type(exc).__name__}: {exc}"
                if reason != failing:
                    log.warning("%s dropped, retrying: %s", what, reason)
                failing = reason
                drop()
                await asyncio.sleep(RETRY_AFTER)
                wake.set()
            else:
                if failing is not None:
                    log.info("%s follows again", what)
                failing = None
    finally:
        forward.cancel()
        checkpoint.unlisten(advanced)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _forward(advanced: asyncio.Queue[int], wake: asyncio.Event) -> None:
    while True:
        await advanced.get()
        wake.set()
