"""A `redis-server` and a `nats-server -js` of the test's own, on spare ports.

Fault-injection tests stop, kill and wipe these servers, so they never touch the
machine's shared instances (6379, 4222). Each server keeps its data in a directory of
its own and restarts on the same port with the same data directory, as a restarted
service would: Redis with an append-only file synced every second (a SIGKILL may lose
the last second of writes, as in production), NATS with its JetStream store.

>>> with OwnRedis(tmp_path / "redis") as redis_server:  # doctest: +SKIP
...     redis_server.stop(signal.SIGKILL)
...     redis_server.start()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.support.server import free_port

REDIS_SERVER = "/usr/bin/redis-server"
NATS_SERVER = "/usr/sbin/nats-server"


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


def binary(path: str) -> str:
    found = path if os.access(path, os.X_OK) else shutil.which(Path(path).name)
    if found is None:
        message = f"{path} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


class OwnServer:
    """A server child process on a fixed port, stopped and started at will."""

    name = "server"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        if self.running:
            return
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=log, cwd=self.directory, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            if _accepting(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start on port {self.port}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Send `sig` and wait for the process to end (SIGKILL after `timeout`)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> OwnServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


class OwnRedis(OwnServer):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return redis_command(self.port, self.directory)


def redis_command(port: int, directory: Path) -> list[str]:
    """`redis-server` on `port`, its append-only file in `directory`, synced every second."""
    return [
        binary(REDIS_SERVER),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--protected-mode", "no",
    ]  # fmt: skip


class OwnNats(OwnServer):
    name = "nats"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            binary(NATS_SERVER),
            "-js",
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-sd", str(self.directory / "jetstream"),
        ]  # fmt: skip
