"""Following a read model at each advance of its checkpoint, for what a process keeps
in memory of it (the product-detail near cache, cached answers).

Such a cache reads what the read model recorded since its cursor whenever the
checkpoint it follows advances. `follow` runs that read (`sync`) once at the start and
again after every advance, folding advances that come while a read runs into one more
read; a read that fails drops the cache (`drop`) and is tried again after a pause,
since whatever the cache held may have missed what that read would have brought.
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
    try:
        while True:
            await wake.wait()
            wake.clear()
            try:
                await sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s dropped: %s: %s", what, type(exc).__name__, exc)
                drop()
                await asyncio.sleep(RETRY_AFTER)
                wake.set()
    finally:
        forward.cancel()
        checkpoint.unlisten(advanced)


async def _forward(advanced: asyncio.Queue[int], wake: asyncio.Event) -> None:
    while True:
        await advanced.get()
        wake.set()
