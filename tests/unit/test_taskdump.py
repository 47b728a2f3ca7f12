"""`SIGUSR1` shows where each task waits, down the chain of awaited coroutines."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tandem import taskdump


async def _deepest() -> None:
    await asyncio.sleep(30)


async def _waiting() -> None:
    await _deepest()


async def test_the_dump_names_every_coroutine_a_task_waits_in() -> None:
    task = asyncio.create_task(_waiting(), name="stuck")
    await asyncio.sleep(0)
    try:
        text = taskdump.describe_tasks()
    finally:
        task.cancel()
    block = text.split("--- stuck\n")[1]
    assert "in _waiting" in block and "in _deepest" in block


async def test_sigusr1_writes_the_dump_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    taskdump.install()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.05)
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
    assert "tasks" in capsys.readouterr().err
