"""Open-loop reads at a constant rate, corrected for coordinated omission.

A closed loop (each connection sends, waits for the answer, maybe pauses, sends again)
offers less when the server slows down, and so never measures the requests that a
stall held back: its percentiles describe the requests that got sent. An open loop
sends on a timetable whatever the server does, and measures each request from the time
it was due, so a stall shows as the queue of late requests it really causes.

`run` drives wrk with bench/lua/open_loop.lua: one thread per connection, each on its
own staggered timetable; the script reports what it offered and achieved and the
corrected percentiles, beside which wrk's own (from each request's send) are kept.

    result = open_loop.run(url, rate=10_000, seconds=5, paths=Path("paths.txt"))
    result.achieved_per_s, result.p99_ms
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harness import LUA, WrkResult

MARKER = "open-loop-json "
# Enough connections that each waits 5 ms between its requests at `rate`: a server
# answering within that keeps up; fewer would cap what the generator can offer.
SPACING_S = 0.005
MIN_CONNECTIONS = 16
MAX_CONNECTIONS = 128  # one wrk thread each: beyond this, the threads cost more CPU
LEAD_S = 0.2  # from wrk's start to the first due time: its threads start and connect


def connections_for(rate: float) -> int:
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, round(rate * SPACING_S)))


@dataclass
class OpenLoopResult:
    """What the open loop offered and achieved over its window (achieved: answered before
    the window's end), its latency from each request's due time (requests never answered
    count as taking until wrk stopped), and for comparison the latency from each send."""

    connections: int
    window_s: float
    scheduled: int
    answered: int
    unanswered: int
    errors: int  # non-2xx/3xx answers and socket errors
    offered_per_s: float
    achieved_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    from_send_p50_ms: float  # uncorrected: what a closed loop would have reported
    from_send_p99_ms: float
    send_lag_p99_ms: float
    # The p99 from the due time of the requests due in each second of the timetable:
    # whether the slowest were spread over the run or held up in a few seconds.
    p99_by_second_ms: list[float]
    loadgen_cpu_share: float
    wrk_p99_ms: float  # wrk's own, after its after-the-fact correction (stats_correct)

    @classmethod
    def parse(cls, out: str, cpu_share: float) -> OpenLoopResult:
        line = next((x for x in out.splitlines() if x.startswith(MARKER)), None)
        if line is None:
            raise RuntimeError(f"no open-loop summary in wrk's output:\n{out}")
        found = json.loads(line[len(MARKER) :])
        wrk = WrkResult.parse(out, cpu_share)
        return cls(
            connections=int(found["connections"]),
            window_s=found["window_s"],
            scheduled=int(found["scheduled"]),
            answered=int(found["answered"]),
            unanswered=int(found["unanswered"]),
            errors=int(found["errors"]) + _socket_errors(out),
            offered_per_s=round(found["offered_per_s"], 1),
            achieved_per_s=round(found["achieved_per_s"], 1),
            p50_ms=_ms(found["p50_ms"]),
            p90_ms=_ms(found["p90_ms"]),
            p99_ms=_ms(found["p99_ms"]),
            p999_ms=_ms(found["p999_ms"]),
            max_ms=_ms(found["max_ms"]),
            from_send_p50_ms=_ms(found["from_send_p50_ms"]),
            from_send_p99_ms=_ms(found["from_send_p99_ms"]),
            send_lag_p99_ms=_ms(found["send_lag_p99_ms"]),
            p99_by_second_ms=[_ms(v) for v in found["p99_by_second_ms"]],
            loadgen_cpu_share=cpu_share,
            wrk_p99_ms=wrk.p99_ms,
        )


def _ms(value: float | None) -> float:
    return float("nan") if value is None else round(value, 2)


def _socket_errors(out: str) -> int:
    for line in out.splitlines():
        if line.strip().startswith("Socket errors:"):
            return sum(int(word.rstrip(",")) for word in line.split() if word.rstrip(",").isdigit())
    return 0


def run(
    url: str,
    *,
    rate: float,
    seconds: int,
    paths: Path | None = None,
    connections: int | None = None,
) -> OpenLoopResult:
    """`rate` GETs per second for `seconds` against `url` (its path, or one drawn from
    `paths` per request). The timetable starts `LEAD_S` after wrk does; wrk runs a
    second longer than it, so the answers to its last requests can arrive."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    n = connections or connections_for(rate)
    env = {
        "BENCH_RATE": str(rate),
        "BENCH_CONNECTIONS": str(n),
        "BENCH_WINDOW": str(seconds),
        "BENCH_PATHS": str(paths or ""),
        "BENCH_LEAD_MS": str(round(LEAD_S * 1000)),
    }
    args = ["wrk", f"-t{n}", f"-c{n}", f"-d{seconds + 1}s", "--latency"]
    args += ["-s", str(LUA / "open_loop.lua"), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    share = round(cpu / (seconds + 1) / (os.cpu_count() or 1), 3)
    return OpenLoopResult.parse(out, share)
