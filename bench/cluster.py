"""Product detail reads and writes on a Redis Cluster beside single-node Redis, one run.

    python -m bench.cluster --products 20000

Two services deployments, one after the other, alike but for `TANDEM_REDIS_URL`: the
machine's Redis, then a Redis Cluster of three masters and three replicas started for
the run (`tests.support.redis_cluster`, on spare ports, stopped after). Each is seeded
with the same catalog (`bench.services.ServicesDeployment`: bulk load, two workers
folding, product detail in three partitions), then one API process at level 3 answers
the suite's detail scenario (`bench.scenarios.detail`: Zipf ids, 64 connections) and
its write scenario (`bench.scenarios.write`: ChangePrice and AdjustStock, 16
connections), `--runs` wrk runs each, medians. Writes
`bench/results/cluster.{json,md}`.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.redis_cluster import OwnRedisCluster

from bench import scenarios
from bench.harness import default_server, load_average, save_results
from bench.services import TOKEN, ServicesDeployment
from tandem.testing.throwaway import REDIS_URL

# Product detail split as a deployment would to spread it over the cluster's masters.
SETTINGS = {"TANDEM_PARTITIONS": "product_detail=3"}
TARGETS = ("single-node Redis", "Redis Cluster (3 masters, 3 replicas)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs of each (median)")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=default_server())
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "products": args.products,
        "server": args.server,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "duration_s": args.duration,
        "runs": args.runs,
        "settings": SETTINGS,
        "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="tandem-cluster-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for i, target in enumerate(TARGETS):
            with contextlib.ExitStack() as stack:
                url = REDIS_URL
                if i:
                    url = stack.enter_context(OwnRedisCluster(tmp / "redis-cluster")).url
                root = tmp / f"target-{i}"
                root.mkdir()
                results["targets"][target] = measure(root, url, args)
    save_results("cluster", results, markdown(results))


def measure(root: Path, redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed a deployment on `redis_url`, then the detail and write scenarios."""
    deployment = ServicesDeployment(root, redis_url, SETTINGS)
    try:
        started = time.perf_counter()
        seeded = deployment.seed(args.products)
        api = deployment.start_api(3, args.server)
        if not deployment.caught_up():
            raise SystemExit("the projections never caught up")
        folded = time.perf_counter() - started
        inputs = scenarios.Inputs(root, deployment.rows)
        load = load_average()
        detail = scenarios.detail(api.url, inputs, args.runs, args.duration)
        write = scenarios.write(api.url, inputs, TOKEN, "cluster", args.runs, args.duration)
        caught_up = time.perf_counter()
        deployment.caught_up(timeout=120)
        return {
            "seed": seeded,
            "seeded_and_folded_s": round(folded, 1),
            "load_average_before": load,
            "detail": detail,
            "write": write,
            "caught_up_after_writes_s": round(time.perf_counter() - caught_up, 1),
        }
    finally:
        deployment.stop_api()
        deployment.close()


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# cluster ({results['date']}, {results['products']:,} products,"
        f" {results['server']}, level 3, product detail in 3 partitions)",
        "",
        "Medians of "
        f"{results['runs']} wrk runs of {results['duration_s']} s each; one API process,"
        " two workers; the same machine (2 cores) runs Redis, PostgreSQL and wrk.",
        "",
        "| Redis | detail reads/s | detail p50 / p99 ms | writes/s | write p50 / p99 ms"
        " | errors | caught up after writes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target, row in results["targets"].items():
        d, w = row["detail"], row["write"]
        lines.append(
            f"| {target} | {d['requests_per_s']:,.0f} | {d['p50_ms']} / {d['p99_ms']}"
            f" | {w['requests_per_s']:,.0f} | {w['p50_ms']} / {w['p99_ms']}"
            f" | {d['errors'] + w['errors']} | {row['caught_up_after_writes_s']} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
