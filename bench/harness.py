"""Shared pieces of the benchmarks: servers, wrk runs, result files."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

RESULTS = Path(__file__).parent / "results"
LUA = Path(__file__).parent / "lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A server child process that is ready when `ready_path` answers 200."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, ready_path: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            try:
                if httpx.get(self.url + ready_path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{args} did not become ready")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def patiently(make: Callable[[], T], attempts: int = 30, pause: float = 2.0) -> T:
    """`make()`, tried again while PostgreSQL refuses new connections (the machine's
    server is shared; its connection slots run out for a while under other work)."""
    for attempt in range(attempts):
        try:
            return make()
        except Exception as exc:
            if "too many clients" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def default_server() -> str:
    """The ASGI server `tandem serve` runs without `--server`: what the product is
    measured with unless the suite is told otherwise."""
    import inspect

    from catalog.cli import serve

    return str(inspect.signature(serve).parameters["server"].default.value)


class ApiDeployment:
    """One `tandem serve` at a time over a deployment's environment (`env`), restarted
    per separation level; `caught_up` waits until every projection reached the head."""

    env: dict[str, str]
    api: Process | None = None

    def start_api(
        self, level: int, server: str | None = None, settings: dict[str, str] | None = None
    ) -> Process:
        """`tandem serve` at `level`, under `server` (by default, the command's own), with
        `settings` added to the deployment's environment."""
        self.stop_api()
        server = server or default_server()
        port = free_port()
        args = [sys.executable, "-m", "catalog", "serve", "--port", str(port)]
        args += ["--log-level", "warning", "--server", server]
        env = {**self.env, **(settings or {}), "TANDEM_LEVEL": str(level)}
        self.api = patiently(lambda: Process(args, env, port, "/readyz"))
        return self.api

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None

    def caught_up(self, timeout: float = 600) -> bool:
        assert self.api is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = httpx.get(f"{self.api.url}/status", timeout=10).json()
            if all(p["checkpoint"] >= status["head"] for p in status["projections"]):
                return True
            time.sleep(0.2)
        return False


def catalog_server(data: Path, token: str, env: dict[str, str] | None = None) -> Process:
    """`tandem serve` (one process) on a free port over the data directory `data`, with
    the settings in `env` besides."""
    port = free_port()
    return Process(
        [sys.executable, "-m", "catalog", "serve", "--port", str(port), "--log-level", "warning"],
        {"TANDEM_DATA_DIR": str(data), "TANDEM_ADMIN_TOKEN": token, **(env or {})},
        port,
        "/readyz",
    )


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    loadgen_cpu_share: float
    p75_ms: float = float("nan")
    p90_ms: float = float("nan")

    @classmethod
    def parse(cls, out: str, cpu_share: float) -> WrkResult:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        errors = 0
        if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
            errors += int(m.group(1))
        if m := re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        ):
            errors += sum(int(g) for g in m.groups())
        return cls(
            rps,
            _percentile(out, "50%"),
            _percentile(out, "99%"),
            errors,
            cpu_share,
            _percentile(out, "75%"),
            _percentile(out, "90%"),
        )


def _percentile(out: str, label: str) -> float:
    m = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(
    url: str,
    *,
    connections: int,
    duration: int,
    script: str | None = None,
    env: dict[str, str] | None = None,
    threads: int = 2,
) -> WrkResult:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        args += ["-s", str(LUA / script)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [*args, url], env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return WrkResult.parse(out, round(cpu / duration / (os.cpu_count() or 1), 3))


def price_changes(
    url: str, ids: Path, token: str, *, tag: str, duration: int, runs: int
) -> dict[str, Any]:
    """ChangePrice through wrk at 16 connections, each request with a fresh idempotency key."""
    return median_of(
        [
            wrk(
                url,
                connections=16,
                duration=duration,
                script="price.lua",
                env={"BENCH_IDS": str(ids), "BENCH_TOKEN": token, "BENCH_PREFIX": f"{tag}{i}"},
            )
            for i in range(runs)
        ]
    )


def wrk_median(
    url: str,
    runs: int,
    *,
    connections: int,
    duration: int,
    script: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`runs` wrk runs of one point; their medians (and each run)."""
    return median_of(
        [
            wrk(url, connections=connections, duration=duration, script=script, env=env)
            for _ in range(runs)
        ]
    )


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def median_of(runs: list[WrkResult]) -> dict[str, Any]:
    return {
        "requests_per_s": round(median(r.requests_per_s for r in runs), 1),
        "p50_ms": round(median(r.p50_ms for r in runs), 2),
        "p75_ms": round(median(r.p75_ms for r in runs), 2),
        "p90_ms": round(median(r.p90_ms for r in runs), 2),
        "p99_ms": round(median(r.p99_ms for r in runs), 2),
        "errors": sum(r.errors for r in runs),
        "loadgen_cpu_share": round(median(r.loadgen_cpu_share for r in runs), 3),
        "runs": [asdict(r) for r in runs],
    }


@dataclass
class Report:
    name: str
    meta: dict[str, Any] = field(default_factory=dict)
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def row(self, scenario: str, measured: str, baseline: str, ratio: str) -> None:
        self.rows.append((scenario, measured, baseline, ratio))
        print(f"{scenario:<34} {measured:<26} {baseline:<30} {ratio}", flush=True)

    def write(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps({"meta": self.meta, "scenarios": self.scenarios}, indent=2))
        lines = [
            f"# {self.name}",
            "",
            *(f"- {k}: {v}" for k, v in self.meta.items()),
            "",
            "| scenario | measured | baseline | ratio |",
            "|---|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        (RESULTS / f"{self.name}.md").write_text("\n".join(lines) + "\n")
        return path


def save_results(name: str, results: dict[str, Any], markdown: str) -> None:
    """`bench/results/<name>.json` and `.md`; the markdown printed too."""
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(results, indent=2))
    (folder / f"{name}.md").write_text(markdown)
    print(markdown)
