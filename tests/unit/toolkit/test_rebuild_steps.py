"""`tandem.rebuilds.steps.run`: the order of a rebuild's steps, and what a failure, a
cancellation or a stop during the grace period leaves behind."""

from __future__ import annotations

import asyncio

import pytest

from tandem.rebuilds.progress import Rebuild, RebuildState
from tandem.rebuilds.steps import run


class Recorded:
    """Steps that record their calls; `fail_in` names the step that raises."""

    def __init__(self, fail_in: str | None = None, block_in: str | None = None) -> None:
        self.calls: list[str] = []
        self.discarded: list[str | None] = []
        self.fail_in = fail_in
        self.block_in = block_in
        self.blocked = asyncio.Event()
        self.announced = asyncio.Event()

    async def _step(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_in:
            raise ValueError(f"{name} broke")
        if name == self.block_in:
            self.blocked.set()
            await asyncio.Event().wait()

    async def create(self) -> None:
        await self._step("create")

    async def catch_up(self, progress: Rebuild) -> None:
        await self._step("catch_up")
        progress.checkpoint = 7

    async def switch(self, progress: Rebuild) -> None:
        await self._step("switch")

    async def announce(self) -> None:
        await self._step("announce")
        self.announced.set()

    async def discard(self, error: str | None) -> None:
        self.discarded.append(error)
        await self._step("discard")

    async def retire(self) -> None:
        await self._step("retire")


async def test_a_rebuild_takes_its_steps_in_order_and_retires_the_old_copy() -> None:
    progress, steps = Rebuild("p", "p_g2"), Recorded()
    await run(progress, steps, grace=0)
    assert steps.calls == ["create", "catch_up", "switch", "announce", "retire"]
    assert progress.state is RebuildState.SWITCHED
    assert (progress.checkpoint, progress.head) == (7, 7)
    assert progress.finished is not None


@pytest.mark.parametrize("step", ["create", "catch_up", "switch"])
async def test_a_failed_step_discards_the_new_copy_and_switches_nothing(step: str) -> None:
    progress, steps = Rebuild("p", "p_g2"), Recorded(fail_in=step)
    await run(progress, steps, grace=0)  # a failure is recorded, not raised
    assert steps.calls[-1] == "discard"
    assert "announce" not in steps.calls and "retire" not in steps.calls
    assert steps.discarded == [f"ValueError: {step} broke"]
    assert progress.state is RebuildState.FAILED
    assert progress.error == f"ValueError: {step} broke"


async def test_a_cancelled_rebuild_discards_its_copy_and_raises() -> None:
    progress, steps = Rebuild("p", "p_g2"), Recorded(block_in="catch_up")
    task = asyncio.create_task(run(progress, steps, grace=0))
    await steps.blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps.discarded == [None]
    assert progress.state is RebuildState.CANCELLED


async def test_a_stop_during_the_grace_period_still_retires_the_old_copy() -> None:
    progress, steps = Rebuild("p", "p_g2"), Recorded()
    task = asyncio.create_task(run(progress, steps, grace=60))
    await steps.announced.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps.calls[-1] == "retire"
    assert progress.state is RebuildState.SWITCHED
