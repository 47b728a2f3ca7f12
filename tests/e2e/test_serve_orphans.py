"""`tandem serve` under granian leaves no orphan holding the data files: with one worker
it is one process, and with several (services profile) a supervisor killed outright
takes its workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import ServicesDeployment
from tests.support.server import Server, free_port


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


def test_one_worker_is_served_by_one_process_that_leaves_the_files_free(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", {"TANDEM_SERVER": "granian"})
    server.start()
    try:
        assert server.process is not None
        assert _children(server.process.pid) == [], "one worker needs no supervisor"
        server.kill()
        server.start()  # the data files are free again
        assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
    finally:
        server.stop()


@pytest.mark.services
def test_a_killed_supervisor_takes_its_workers_with_it(tmp_path: Path) -> None:
    deployment = ServicesDeployment(tmp_path / "data")
    deployment.prepare()
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "catalog", "serve", "--workers", "2", "--port", str(port)],
        env=deployment.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        workers = _children(serve.pid)
        assert len(workers) == 2, "granian serves from two worker processes"
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "a worker outlived its supervisor"
    finally:
        if serve.poll() is None:
            serve.kill()
        deployment.stop()
