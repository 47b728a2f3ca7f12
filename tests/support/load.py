"""Continuous writes and reads against a running deployment, for tests that change it
underneath (rebuilds): every failed read, failed write or read older than its reader
had already seen is collected in `problems`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

import httpx

from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# One write step: the client and the step's number in; the responses out.
WriteStep = Callable[[httpx.Client, int], list[httpx.Response]]


class Load:
    """One writer thread and one reader thread per path; each reader asks at
    `min_version` = the newest version it has been answered at (the head at first)."""

    def __init__(
        self, url: str, paths: dict[str, str], head: int, write: WriteStep, pause: float = 0.005
    ) -> None:
        self.url = url
        self.paths = paths
        self.floor = dict.fromkeys(paths, head)
        self.write_step = write
        self.pause = pause
        self.problems: list[str] = []
        self.reads = 0
        self.writes = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write)]
        self._threads += [threading.Thread(target=self._read, args=(name,)) for name in paths]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait_running(self, at_least: int = 20, timeout: float = 30) -> None:
        """Until both sides have done some work, so what follows happens under load."""
        deadline = time.monotonic() + timeout
        while (self.writes < at_least or self.reads < at_least) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _write(self) -> None:
        with httpx.Client(base_url=self.url, headers=ADMIN, timeout=30) as client:
            while not self._stop.is_set():
                for response in self.write_step(client, self.writes):
                    if response.status_code not in (200, 201):
                        self.problems.append(f"write {response.status_code}: {response.text}")
                self.writes += 1
                time.sleep(self.pause)

    def _read(self, name: str) -> None:
        with httpx.Client(base_url=self.url, headers=ADMIN, timeout=30) as client:
            while not self._stop.is_set():
                floor = self.floor[name]
                response = client.get(self.paths[name], params={"min_version": floor})
                self.reads += 1
                if response.status_code != 200:
                    self.problems.append(f"read {name} {response.status_code}: {response.text}")
                    continue
                version = int(response.headers["x-read-version"])
                if version < floor:
                    self.problems.append(f"read {name} at {version}, older than {floor}")
                self.floor[name] = max(floor, version)


def wait_rebuild(admin: httpx.Client, name: str, timeout: float = 60) -> dict[str, object]:
    """The rebuild's progress once it is no longer running (or at the timeout)."""
    deadline = time.monotonic() + timeout
    progress: dict[str, object] = {}
    while time.monotonic() < deadline:
        progress = admin.get(f"/admin/projections/{name}/rebuild").json()
        if progress["state"] != "running":
            break
        time.sleep(0.05)
    return progress
