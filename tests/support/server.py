"""Run `tandem serve` as a real process on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# Strong enough for TANDEM_ADMIN_TOKEN (long, many different characters).
ADMIN_TOKEN = "test-admin-token-0123456789-abcdefghijklmnop"
# The suites fail authentication on purpose many times from 127.0.0.1: a server holds
# an address back only after this many failures (tests of the limit set their own).
AUTH_FAILURES = "100000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(env: dict[str, str], *args: str) -> str:
    """Run `tandem ARGS…` with `env`; returns its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "catalog", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


class Server:
    """A `tandem serve` child process with its own data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TANDEM_DATA_DIR": str(data_dir),
            "TANDEM_ADMIN_TOKEN": ADMIN_TOKEN,
            "TANDEM_AUTH_FAILURES": AUTH_FAILURES,
            **(env or {}),
        }
        self.level = int(self.env.get("TANDEM_LEVEL", "3"))
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def cli(self, *args: str) -> str:
        """Run `tandem ARGS…` against this server's data; returns its standard output."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return run_cli(self.env, *args)

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "catalog", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushes — a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
