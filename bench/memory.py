"""The API process's memory under a long write load.

    python -m bench.memory                          # embedded, 100,000 products, 10 minutes
    python -m bench.memory --profile services --minutes 3

Seeds a deployment, starts one API process at level 3, warms it with the read
scenarios (product detail, search), then runs the write scenario (ChangePrice and
AdjustStock, 16 connections) for `--minutes`, reading the API's resident memory (its
server's worker processes included) every `--every` seconds, with what SQLite and each
DuckDB file say they hold (`tandem_memory_bytes` on /metrics). The target: at most
250 MB, and flat: the last reading within 5% of the first one taken under the write
load (the first minute fills caches: product documents, page caches). Writes
`bench/results/memory-<profile>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.deployments import seeded_api
from bench.harness import default_server, save_results, wrk

LIMIT_MB = 250
FLAT = 0.05


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=("services", "embedded"), default="embedded")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=int, default=30, help="seconds between readings")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=default_server())
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tandem-memory-") as tmp:
        results = run(Path(tmp), args)
    save_results(f"memory-{args.profile}", results, markdown(results))


def run(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    readings: list[dict[str, Any]] = []
    with seeded_api(args.profile, tmp, args.products, args.server) as (deployment, api, token):
        pid = api.proc.pid

        def read(phase: str, commands: int = 0) -> None:
            reading = {"phase": phase, "commands": commands, **scenarios.rss_mb(pid)}
            reading["held_mb"] = held(api.url, token)
            readings.append(reading)
            print(reading, flush=True)

        read("started")
        inputs = scenarios.Inputs(tmp, deployment.rows)
        scenarios.warm_up(api.url, inputs)
        detail = {"BENCH_IDS": str(inputs.zipf)}
        wrk(api.url, connections=64, duration=10, script="detail.lua", env=detail)
        search = {"BENCH_PATHS": str(inputs.search)}
        wrk(api.url, connections=16, duration=10, script="paths.lua", env=search)
        read("after reads")
        commands = 0
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            point = wrk(
                api.url,
                connections=16,
                duration=args.every,
                script="write.lua",
                env={
                    "BENCH_IDS": str(inputs.uniform),
                    "BENCH_TOKEN": token,
                    "BENCH_PREFIX": f"memory-{time.time_ns()}",
                },
            )
            commands += round(point.requests_per_s * args.every)
            read("writing", commands)
    writing = [r["rss_mb"] for r in readings if r["phase"] == "writing"]
    return {
        "profile": args.profile,
        "products": args.products,
        "server": args.server,
        "minutes": args.minutes,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "readings": readings,
        "max_rss_mb": max(r["rss_mb"] for r in readings),
        "growth_under_writes": round(writing[-1] / writing[0] - 1, 4) if writing else None,
    }


def held(url: str, token: str) -> dict[str, float]:
    """MB each embedded database of the API process holds, by its own count (the
    `tandem_memory_bytes` series of /metrics; one process of the server's)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    return {
        sample.labels["holder"]: round(sample.value / 2**20, 1)
        for family in text_string_to_metric_families(text)
        if family.name == "tandem_memory_bytes"
        for sample in family.samples
    }


def markdown(results: dict[str, Any]) -> str:
    growth = results["growth_under_writes"]
    met = results["max_rss_mb"] <= LIMIT_MB and growth is not None and abs(growth) <= FLAT
    lines = [
        f"# memory-{results['profile']} ({results['date']}, {results['products']:,} products,"
        f" {results['server']}, {results['minutes']} min of writes)",
        "",
        "| phase | commands | RSS MB | peak MB | held by the databases, MB |",
        "|---|---|---|---|---|",
        *[
            f"| {r['phase']} | {r['commands']:,} | {r['rss_mb']} | {r['peak_rss_mb']} |"
            f" {', '.join(f'{k} {v}' for k, v in sorted(r['held_mb'].items()))} |"
            for r in results["readings"]
        ],
        "",
        f"Largest {results['max_rss_mb']} MB (target ≤ {LIMIT_MB}); under writes"
        f" {100 * (growth or 0):+.1f}% from the first reading to the last (target within"
        f" ±{100 * FLAT:.0f}%): {'yes' if met else '**no**'}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
