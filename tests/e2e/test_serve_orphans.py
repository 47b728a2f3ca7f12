"""`tandem serve` under granian is a supervisor and a worker process; killed outright,
the supervisor takes its worker with it, so no orphan keeps serving with the data files
locked, and the next start opens them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.support.server import Server


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone but for its entry


def test_a_killed_supervisor_takes_its_worker_with_it(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", {"TANDEM_SERVER": "granian"})
    server.start()
    try:
        assert server.process is not None
        workers = _children(server.process.pid)
        assert workers, "granian serves from a worker process"
        server.kill()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "a worker outlived its supervisor"
        server.start()  # the data files are free again
        assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
    finally:
        server.stop()
