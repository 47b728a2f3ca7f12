"""The write path against its ceiling, in one run.

    python -m bench.writes                         # services: 1 API at level 3 + 2 workers
    python -m bench.writes --profile embedded --products 20000

Seeds a deployment, then alternates wrk runs of the write scenario (ChangePrice and
AdjustStock, 16 connections, a fresh Idempotency-Key per request, the workers folding
every command) with runs of the raw route: `bench.baseline_app` under the same ASGI
server running the same SQL in one transaction (update the product row, insert the
event row), without the toolkit or projections. Prints the medians, their ratio and the
cores each process used during the write runs (`bench.profile.cpu_table`); writes
`bench/results/writes-<profile>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import ceilings, scenarios
from bench.deployments import seeded_api
from bench.harness import (
    Process,
    default_server,
    median_of,
    patiently,
    save_results,
    wrk,
)
from bench.profile import cpu_window

TARGET = 0.8


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=("services", "embedded"), default="services")
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs of each (median)")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=default_server())
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tandem-writes-") as tmp_name:
        results = run(Path(tmp_name), args)
    save_results(f"writes-{args.profile}", results, markdown(results))


def run(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "profile": args.profile,
        "products": args.products,
        "server": args.server,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "duration_s": args.duration,
    }
    with seeded_api(args.profile, tmp, args.products, args.server) as (deployment, api, token):
        inputs = scenarios.Inputs(tmp, deployment.rows)
        with raw_route(deployment, inputs, args) as (raw, raw_script, raw_env):
            ours_runs, raw_runs, cores = [], [], []
            # A second of each first: connections, caches and statements warm.
            wrk(raw.url, connections=16, duration=1, script=raw_script, env=raw_env)
            scenarios.write(api.url, inputs, token, "warm", 1, 1)
            for i in range(args.runs):
                window: list[str] = []
                sampler = threading.Thread(
                    target=cpu_window, args=(0.5, args.duration - 1, window), daemon=True
                )
                sampler.start()
                ours_runs.append(_write_run(api.url, inputs, token, i, args.duration))
                sampler.join()
                cores += window
                raw_runs.append(
                    wrk(
                        raw.url,
                        connections=16,
                        duration=args.duration,
                        script=raw_script,
                        env=raw_env,
                    )
                )
        ours, ceiling = median_of(ours_runs), median_of(raw_runs)
        results["write"] = ours
        results["raw_route"] = ceiling
        results["ratio"] = round(ours["requests_per_s"] / ceiling["requests_per_s"], 3)
        results["cores_during_write_runs"] = cores
        results["caught_up_after"] = deployment.caught_up(timeout=120)
    return results


def _write_run(url: str, inputs: scenarios.Inputs, token: str, i: int, duration: int) -> Any:
    env = {
        "BENCH_IDS": str(inputs.uniform),
        "BENCH_TOKEN": token,
        "BENCH_PREFIX": f"writes-{i}-{time.time_ns()}",
    }
    return wrk(url, connections=16, duration=duration, script="write.lua", env=env)


@contextmanager
def raw_route(
    deployment: Any, inputs: scenarios.Inputs, args: argparse.Namespace
) -> Iterator[tuple[Process, str, dict[str, str]]]:
    """The baseline app's write route over a copy of the deployment's kind of database:
    (the running app, its wrk script, the script's environment)."""
    if args.profile == "embedded":
        copy = deployment.snapshot(inputs.tmp / "raw.db")
        app = ceilings.baseline_server({"BENCH_DB": str(copy)}, args.server)
        try:
            yield app, "raw_price.lua", {"BENCH_IDS": str(inputs.uniform)}
        finally:
            app.stop()
        return
    from tandem.testing.throwaway import create_database, drop_database

    database = patiently(lambda: asyncio.run(create_database("tandem_bench_writes")))
    try:
        ids = ceilings.write_ids(
            asyncio.run(ceilings.migrated_raw_products(database.url)), inputs.tmp / "raw.txt"
        )
        app = ceilings.baseline_server({"BENCH_PG_WRITE_URL": database.url}, args.server)
        try:
            yield app, "raw_price_pg.lua", {"BENCH_IDS": str(ids)}
        finally:
            app.stop()
    finally:
        patiently(lambda: asyncio.run(drop_database(database)))


def markdown(results: dict[str, Any]) -> str:
    ours, raw = results["write"], results["raw_route"]
    met = "yes" if results["ratio"] >= TARGET and ours["p99_ms"] <= 50 else "**no**"
    lines = [
        f"# writes-{results['profile']} ({results['date']}, {results['products']:,} products,"
        f" {results['server']})",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
        f"| write route (ChangePrice/AdjustStock + Idempotency-Key, 16 conn) |"
        f" {ours['requests_per_s']:,.0f} | {ours['p50_ms']} | {ours['p99_ms']} |"
        f" {ours['errors']} |",
        f"| raw route, same SQL, no toolkit, no projections |"
        f" {raw['requests_per_s']:,.0f} | {raw['p50_ms']} | {raw['p99_ms']} | {raw['errors']} |",
        "",
        f"Ratio {results['ratio']:.2f}x (target ≥ {TARGET}x with p99 ≤ 50 ms: {met});"
        f" caught up after: {results['caught_up_after']}.",
        "",
        "Cores by process during each write run:",
        "",
        "```",
        *[window.rstrip() + "\n" for window in results["cores_during_write_runs"]],
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
