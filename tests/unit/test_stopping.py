"""`finish` ends tasks even when one takes its cancellation for something else."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from tandem.stopping import finish


async def _deaf(ended: list[str]) -> None:
    """Swallows the first cancellation, as a library that mistakes it for its own
    timeout does, then goes on waiting."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(30)
    try:
        await asyncio.sleep(30)
    finally:
        ended.append("deaf")


async def _failing() -> None:
    raise RuntimeError("ended badly before the stop")


async def test_a_task_that_swallows_one_cancellation_is_still_ended(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []
    deaf = asyncio.create_task(_deaf(ended), name="deaf")
    failed = asyncio.create_task(_failing())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="tandem.stopping"):
        async with asyncio.timeout(5):
            await finish([deaf, failed], every=0.05)
    assert deaf.cancelled() and ended == ["deaf"]
    assert failed.done()  # its error was retrieved, not reported as never retrieved
    assert "task deaf did not end when cancelled" in caplog.text
    assert "_deaf" in caplog.text  # where it was waiting


async def test_a_stop_cancelled_itself_still_ends_its_tasks_then_raises() -> None:
    ended: list[str] = []
    deaf = asyncio.create_task(_deaf(ended), name="deaf")
    await asyncio.sleep(0)
    stopping = asyncio.create_task(finish([deaf], every=0.05))
    await asyncio.sleep(0.01)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await stopping
    assert deaf.done() and ended == ["deaf"]
