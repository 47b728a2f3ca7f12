"""A live runner folds a commit after a quiet spell at once, and under a stream of
commits starts its rounds at least `linger` apart, each carrying what arrived meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.integration.test_runner_batches import Tally
from tests.support.listlog import ListLog

from tandem.consistency import VersionWatch
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.stores.sqlite import SqliteProjectionStore

LINGER = 0.4


async def _live_runner(tmp_path: Path) -> tuple[ListLog, VersionWatch, ProjectionRunner]:
    log, head = ListLog(), VersionWatch(0)
    head.advance(log.append())
    store = SqliteProjectionStore(tmp_path / "tally.db")
    runner = ProjectionRunner(Tally(), store, log, head, linger=LINGER)
    return log, head, runner


async def test_a_commit_after_a_quiet_spell_is_folded_without_lingering(tmp_path: Path) -> None:
    log, head, runner = await _live_runner(tmp_path)
    task = asyncio.create_task(runner.run())
    try:
        await runner.checkpoint.wait_for(1, timeout=5)
        await asyncio.sleep(LINGER * 1.5)  # quiet for longer than the linger
        assert runner.state is ProjectionState.LIVE
        start = time.monotonic()
        head.advance(log.append())
        assert await runner.checkpoint.wait_for(2, timeout=5)
        assert time.monotonic() - start < LINGER / 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        runner.store.close()  # type: ignore[attr-defined]


async def test_rounds_under_a_stream_of_commits_are_a_linger_apart(tmp_path: Path) -> None:
    log, head, runner = await _live_runner(tmp_path)
    task = asyncio.create_task(runner.run())
    try:
        await runner.checkpoint.wait_for(1, timeout=5)
        await asyncio.sleep(LINGER * 1.5)
        rounds: list[int] = []  # the checkpoint after each round
        advanced = runner.checkpoint.listen()

        async def note() -> None:
            while True:
                rounds.append(await advanced.get())

        noting = asyncio.create_task(note())
        start = time.monotonic()
        # A commit every 20 ms for 1.6 s: 80 commits over four linger periods.
        for _ in range(80):
            head.advance(log.append())
            await asyncio.sleep(0.02)
        assert await runner.checkpoint.wait_for(81, timeout=5)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0)
        noting.cancel()
        runner.checkpoint.unlisten(advanced)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        runner.store.close()  # type: ignore[attr-defined]
    # The first commit at once, then one round per linger at most: each carries many.
    assert rounds[0] == 2
    assert rounds[-1] == 81
    assert len(rounds) <= elapsed / LINGER + 2
