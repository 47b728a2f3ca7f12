"""The open-loop load generator (bench/open_loop.py) against a server that answers at
once: it offers and achieves the rate asked for; and against the same server frozen for
200 ms mid-run: its latency, measured from each request's due time, shows the stall that
the latency measured from each send hides."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from bench import open_loop

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None and os.environ.get("CI") != "true",
    reason="wrk is not installed",
)


@dataclass
class NullServer:
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture
def null_server() -> Iterator[NullServer]:
    """bench.null_server on a free port: the same 1 KB answer to every GET."""
    from bench.harness import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.null_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    try:
        yield NullServer(url, proc)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


def test_offers_and_achieves_ten_thousand_a_second(null_server: NullServer) -> None:
    result = open_loop.run(null_server.url, rate=10_000, seconds=2)

    # What the generator must do whatever the machine's load: offer the whole timetable
    # and take every answer (how fast a loaded machine answers is the benchmark's).
    assert result.connections == 50
    assert result.scheduled == 20_000
    assert result.offered_per_s == 10_000
    assert result.answered == result.scheduled
    assert result.errors == 0 and result.unanswered == 0
    assert len(result.p99_by_second_ms) == 2


def test_a_stall_shows_in_the_latency_from_the_due_time(null_server: NullServer) -> None:
    def freeze() -> None:
        time.sleep(1.2)  # the timetable starts 0.2 s after wrk does: 1 s into it
        os.kill(null_server.proc.pid, signal.SIGSTOP)
        time.sleep(0.2)
        os.kill(null_server.proc.pid, signal.SIGCONT)

    stall = threading.Thread(target=freeze)
    stall.start()
    result = open_loop.run(null_server.url, rate=5_000, seconds=2)
    stall.join()

    # 200 ms of a 2 s timetable fell due while the server was frozen: 10% of the
    # requests waited, up to the whole 200 ms.
    assert result.answered == result.scheduled
    assert result.p99_ms > 100
    assert result.max_ms > 180
    # Measured from each send, only the requests in flight when it froze (one a
    # connection, 25 of 10,000) waited: the p99 sees far less of it.
    assert result.p99_ms > result.from_send_p99_ms + 50
    # Per second of the timetable, the stall shows in the second it fell in, not in the
    # other.
    assert len(result.p99_by_second_ms) == 2
    assert max(result.p99_by_second_ms) > 100
    assert min(result.p99_by_second_ms) < 50
