"""The WAL checkpoint task, cancelled while a checkpoint runs, closes its connection
only after that checkpoint: closing a SQLite connection that another thread is using
crashed the whole process (a test run died of it)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from tandem.consistency import VersionWatch
from tandem.db import sqlite as sqlite_db


class HeldCheckpoints:
    """A real connection whose WAL checkpoints wait for `release`, and a record of what
    happened to it, in order."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.entered = threading.Event()
        self.release = threading.Event()
        self.happened: list[str] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if "wal_checkpoint" in sql:
            self.entered.set()
            assert self.release.wait(10)
            cursor = self.conn.execute(sql, *args)
            self.happened.append("checkpointed")
            return cursor
        return self.conn.execute(sql, *args)

    def close(self) -> None:
        self.happened.append("closed")
        self.conn.close()


async def test_a_cancelled_checkpointer_closes_its_connection_after_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.db"
    writer = sqlite_db.connect(path)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (1)")
    held: list[HeldCheckpoints] = []
    real_connect = sqlite_db.connect

    def connect(at: str | Path, *, readonly: bool = False) -> Any:
        held.append(HeldCheckpoints(real_connect(at, readonly=readonly)))
        return held[-1]

    monkeypatch.setattr(sqlite_db, "connect", connect)
    head = VersionWatch(0)
    task = asyncio.create_task(sqlite_db.checkpoint_wal(path, head, interval=0))
    await asyncio.sleep(0)
    head.advance(1)
    conn = held[0]
    assert await asyncio.to_thread(conn.entered.wait, 10)

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert conn.happened == []  # not closed under the running checkpoint

    conn.release.set()
    for _ in range(500):
        if len(conn.happened) == 2:
            break
        await asyncio.sleep(0.01)
    assert conn.happened == ["checkpointed", "closed"]
    writer.close()


async def _steady_writes(path: Path, *, writes: asyncio.Lock | None) -> int:
    """The largest the WAL file grew while 5,000 commits of a few pages each went on
    back to back, with a reader reading between them and the checkpointer running."""
    writer = sqlite_db.connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")  # as the catalog's writer does
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    reader = sqlite_db.connect(path, readonly=True)
    lock = writes or asyncio.Lock()
    head = VersionWatch(0)
    task = asyncio.create_task(
        sqlite_db.checkpoint_wal(path, head, interval=0, writes=writes, restart_frames=256)
    )
    largest = 0
    try:
        for n in range(1, 5001):
            async with lock:
                writer.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
            reader.execute("SELECT max(id) FROM t").fetchone()
            head.advance(n)
            await asyncio.sleep(0)
            largest = max(largest, (path.parent / f"{path.name}-wal").stat().st_size)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        reader.close()
        writer.close()
    return largest


async def test_the_wal_starts_over_under_steady_writes(tmp_path: Path) -> None:
    # Without the writer's lock, a checkpoint seldom catches the last commit, and the
    # WAL keeps most pages written (up to 5,000 x 8 KiB): the control.
    unbounded = await _steady_writes(tmp_path / "free.db", writes=None)
    assert unbounded > 10 * 2**20
    bounded = await _steady_writes(tmp_path / "held.db", writes=asyncio.Lock())
    # 256 frames (of 4 KiB) and what the writes between two checkpoints add.
    assert bounded < 8 * 2**20
