"""What the tests of the in-process caches share: a cache following its read model for
the length of a block, and waiting until a cache serves at a version."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any


@contextlib.asynccontextmanager
async def following(cache: Any) -> AsyncIterator[None]:
    """`cache.run()` (its follower of the read model's changes) for the block's length."""
    task = asyncio.create_task(cache.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serving_at(cache: Any, version: Callable[[], int]) -> None:
    """Until `cache` serves with its watermark at `version()` or beyond (after a drop,
    the watermark stays where it was until the follower places itself again)."""
    for _ in range(500):
        if cache.serving and cache.watermark.value >= version():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cache did not catch up")
