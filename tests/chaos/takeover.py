"""How long the projections of a SIGKILLed worker stay without a runner.

A worker's id names its process (`host-pid-…`), and `tandem_leases` says which worker
owns which projection: the takeover is over when every lease the killed worker owned
has another owner.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any


def of_process(owner: str, pid: int) -> bool:
    """Whether the worker id `owner` is that of process `pid`."""
    return f"-{pid}-" in owner


async def _owners(conn: Any) -> dict[str, str]:
    rows = await conn.fetch("SELECT name, owner FROM tandem_leases")
    return {str(r["name"]): str(r["owner"]) for r in rows}


def owners(write_url: str) -> dict[str, str]:
    """Every lease and the worker that owns it."""

    async def read() -> dict[str, str]:
        import asyncpg

        conn = await asyncpg.connect(write_url)
        try:
            return await _owners(conn)
        finally:
            await conn.close()

    return asyncio.run(read())


def wait_shared(write_url: str, pids: list[int], timeout: float = 60.0) -> dict[str, str]:
    """Until every process of `pids` owns at least one lease; the owners then."""
    deadline = time.monotonic() + timeout
    while True:
        held = owners(write_url)
        if all(any(of_process(o, pid) for o in held.values()) for pid in pids):
            return held
        if time.monotonic() > deadline:
            raise AssertionError(f"the leases were never shared by {pids}: {held}")
        time.sleep(0.1)


def time_takeover(
    write_url: str, pid: int, kill: Callable[[], None], timeout: float = 15.0
) -> float | None:
    """Call `kill()` (which SIGKILLs process `pid`) and return the seconds until every
    lease it owned has another owner: `math.inf` if that takes longer than `timeout`,
    None if it owned none."""

    async def measure() -> float | None:
        import asyncpg

        conn = await asyncpg.connect(write_url)
        try:
            orphans = {n for n, o in (await _owners(conn)).items() if of_process(o, pid)}
            began = time.monotonic()
            kill()
            if not orphans:
                return None
            while time.monotonic() - began < timeout:
                now = await _owners(conn)
                if not any(of_process(now.get(name, ""), pid) for name in orphans):
                    return time.monotonic() - began
                await asyncio.sleep(0.01)
            return math.inf
        finally:
            await conn.close()

    return asyncio.run(measure())
