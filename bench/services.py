"""Benchmarks of the services profile (PostgreSQL, Redis; direct PostgreSQL transport).

`python -m bench.services` measures, on fresh databases of the machine's PostgreSQL and a
fresh key prefix of its Redis:
- seed and catch-up: the demo catalog written through the bus, then two workers folding
  it into Redis and the read database (events/s);
- detail: GET /products/{id} (Zipf ids) served from Redis by one API process;
- write: ChangePrice with idempotency keys, 16 connections, with the event log's
  transaction-id horizon (the default) and again, on a fresh database, with the classic
  `LOCK TABLE … EXCLUSIVE` on append, so the horizon's gain is measured, not claimed;
- lag: a steady paced write load; for every command, the time from its acknowledgement
  until each projection's checkpoint (as the API process sees it, over
  `/stream/progress`) reaches its version.
Results go to bench/results/services.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx
import orjson
from tests.support.services import PG_ADMIN_URL, REDIS_URL, create_database, drop_database
from tests.support.services_readmodels import delete_prefix

from bench.harness import Process, Report, free_port, median_of, price_changes, wrk

TOKEN = "bench-admin-token"


class Deployment:
    """Fresh databases, migrated and seeded; API and workers started on demand."""

    def __init__(self, root: Path, mode: str) -> None:
        self.write_db = asyncio.run(create_database("tandem_bench"))
        self.read_db = asyncio.run(create_database("tandem_bench_read"))
        self.prefix = f"tandem_bench_{uuid.uuid4().hex[:8]}"
        self.env = {
            "TANDEM_DATA_DIR": str(root / mode),
            "TANDEM_ADMIN_TOKEN": TOKEN,
            "TANDEM_DATABASE_URL": self.write_db.url,
            "TANDEM_READ_DATABASE_URL": self.read_db.url,
            "TANDEM_REDIS_URL": REDIS_URL,
            "TANDEM_REDIS_PREFIX": self.prefix,
            "TANDEM_EVENT_LOG_MODE": mode,
        }
        self.workers: list[subprocess.Popen[bytes]] = []
        self.api: Process | None = None
        self.cli("migrate")

    def cli(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "catalog", *args],
            env={**os.environ, **self.env},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start_workers(self, count: int = 2) -> None:
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "catalog", "worker", "--log-level", "warning"],
                    env={**os.environ, **self.env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def start_api(self) -> Process:
        port = free_port()
        self.api = Process(
            [
                sys.executable,
                "-m",
                "catalog",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            self.env,
            port,
            "/readyz",
        )
        return self.api

    def caught_up(self, timeout: float = 600) -> bool:
        assert self.api is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = httpx.get(f"{self.api.url}/status", timeout=10).json()
            if all(p["checkpoint"] >= status["head"] for p in status["projections"]):
                return True
            time.sleep(0.1)
        return False

    def product_ids(self) -> list[str]:
        async def fetch() -> list[str]:
            import asyncpg

            conn = await asyncpg.connect(self.write_db.url)
            try:
                rows = await conn.fetch(
                    "SELECT id FROM products WHERE status = 'active' ORDER BY sku"
                )
                return [r["id"] for r in rows]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def close(self) -> None:
        if self.api is not None:
            self.api.stop()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        asyncio.run(drop_database(self.write_db))
        asyncio.run(drop_database(self.read_db))

        async def clean() -> None:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(REDIS_URL)
            await delete_prefix(client, self.prefix)
            await client.aclose()

        asyncio.run(clean())


async def _log_length(deployment: Deployment) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(deployment.write_db.url)
    try:
        return [r[0] for r in await conn.fetch("SELECT position FROM tandem_events")]
    finally:
        await conn.close()


PGBENCH_APPEND = {
    "horizon": """
BEGIN;
INSERT INTO tandem_events (position, type, schema_version, aggregate_type, aggregate_id,
  aggregate_version, recorded_at, correlation_id, causation_id, data)
  VALUES ((pg_current_xact_id()::text::bigint << 16), 'PriceChanged', 1, 'product',
  md5(random()::text), 1, 0, 'c', 'c', '{}');
END;
""",
    "lock": """
BEGIN;
LOCK TABLE tandem_events IN EXCLUSIVE MODE;
INSERT INTO tandem_events (position, type, schema_version, aggregate_type, aggregate_id,
  aggregate_version, recorded_at, correlation_id, causation_id, data)
  VALUES (nextval('tandem_events_locked_position'), 'PriceChanged', 1, 'product',
  md5(random()::text), 1, 0, 'c', 'c', '{}');
END;
""",
}


def _pgbench_append(url: str, mode: str, seconds: int) -> float:
    """Transactions/s of the bare append statement, 16 clients: the database's ceiling
    for each ordering technique, without Python in the way."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_APPEND[mode])
        script.flush()
        out = subprocess.run(
            ["pgbench", "-n", "-c", "16", "-j", "2", "-T", str(seconds), "-f", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return float(out.split("tps = ", 1)[1].split()[0])


def _redis_get_ceiling() -> float:
    """Redis itself answering GETs of ~1 KB values to 64 clients (redis-benchmark)."""
    out = subprocess.run(
        ["redis-benchmark", "-t", "get", "-n", "200000", "-c", "64", "-d", "1000", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.rsplit("GET:", 1)[1].split("requests per second")[0].strip())


def _catch_up_seconds(url: str) -> float:
    """From the first applied event (worker start-up excluded) until every projection
    reaches the head."""
    first = None
    while True:
        status = httpx.get(f"{url}/status", timeout=10).json()
        checkpoints = [p["checkpoint"] for p in status["projections"]]
        now = time.perf_counter()
        if first is None and any(0 < c < status["head"] for c in checkpoints):
            first = now
        if all(c >= status["head"] for c in checkpoints):
            return now - (first or now) or float("nan")
        time.sleep(0.02)


def _ids_files(ids: list[str], tmp: Path) -> tuple[Path, Path]:
    rng = random.Random(3)
    weights = [1 / (rank + 1) for rank in range(len(ids))]
    zipf = tmp / "zipf.txt"
    zipf.write_text("\n".join(rng.choices(ids, weights=weights, k=20000)) + "\n")
    uniform = tmp / "ids.txt"
    uniform.write_text("\n".join(ids) + "\n")
    return zipf, uniform


def _seed(deployment: Deployment, products: int) -> float:
    start = time.perf_counter()
    deployment.cli("seed", "--products", str(products), "--seed", "1")
    return time.perf_counter() - start


def _lag(url: str, ids: list[str], rate: int, seconds: int) -> dict[str, Any]:
    """Paced price changes; per command and projection, ack → checkpoint ≥ version."""
    reached: dict[str, list[tuple[float, int]]] = {}
    stop = threading.Event()

    def follow() -> None:
        with (
            httpx.Client(timeout=None) as client,
            client.stream("GET", f"{url}/stream/progress") as response,
        ):
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data: "):
                    body = orjson.loads(line[6:])
                    reached.setdefault(body["projection"], []).append(
                        (time.perf_counter(), int(body["checkpoint"]))
                    )

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(0.5)
    acks: list[tuple[float, int]] = []
    rng = random.Random(5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        start = time.perf_counter()
        for i in range(rate * seconds):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            price = f"{rng.randint(100, 90000) / 100:.2f}"
            response = client.put(f"/products/{rng.choice(ids)}/price", json={"price": price})
            acks.append((time.perf_counter(), int(response.json()["version"])))
    time.sleep(3)
    stop.set()
    lags: dict[str, Any] = {}
    for name, seen in reached.items():
        samples = []
        for acked_at, version in acks:
            first = next((t for t, checkpoint in seen if checkpoint >= version), None)
            if first is not None:
                samples.append(max(0.0, first - acked_at) * 1000)
        if len(samples) >= 2:
            cuts = quantiles(samples, n=100)
            lags[name] = {"p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}
    return {"rate_per_s": rate, "seconds": seconds, "commands": len(acks), "projections": lags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lag-rate", type=int, default=100)
    args = parser.parse_args()
    report = Report(
        "services",
        meta={
            "products": args.products,
            "duration_s": args.duration,
            "runs": args.runs,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "postgres": PG_ADMIN_URL.rsplit("@", 1)[-1],
            "processes": "1 API (uvicorn) + 2 workers, direct PostgreSQL transport",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        horizon = Deployment(tmp, "horizon")
        try:
            seconds = _seed(horizon, args.products)
            api = horizon.start_api()
            report.row("seed (in-process bus, PostgreSQL)", f"{seconds:.1f} s", "-", "-")
            horizon.start_workers(2)
            catch_up = _catch_up_seconds(api.url)
            events = len(asyncio.run(_log_length(horizon)))
            report.scenarios["catch_up"] = {
                "seconds": round(catch_up, 1),
                "events": events,
                "events_per_s_per_projection": round(events / catch_up),
            }
            report.row(
                "catch-up, 5 projections, 2 workers",
                f"{events / catch_up:,.0f} events/s each ({events:,} events)",
                "-",
                "-",
            )
            ids = horizon.product_ids()
            zipf, uniform = _ids_files(ids, tmp)
            detail = median_of(
                [
                    wrk(
                        api.url,
                        connections=64,
                        duration=args.duration,
                        script="detail.lua",
                        env={"BENCH_IDS": str(zipf)},
                    )
                    for _ in range(args.runs)
                ]
            )
            report.scenarios["detail"] = detail
            ceiling = _redis_get_ceiling()
            report.scenarios["redis_benchmark_get"] = ceiling
            report.row(
                "GET /products/{id} from Redis",
                f"{detail['requests_per_s']:,.0f} req/s, p99 {detail['p99_ms']} ms",
                f"redis-benchmark GET, 64 clients: {ceiling:,.0f}/s",
                f"{detail['requests_per_s'] / ceiling:.2f}",
            )
            write = price_changes(
                api.url, uniform, TOKEN, tag="h", duration=args.duration, runs=args.runs
            )
            report.scenarios["write_horizon"] = write
            assert horizon.caught_up(), "workers did not catch up after the write load"
            lag = _lag(api.url, ids, args.lag_rate, 15)
            report.scenarios["lag"] = lag
            columnar = {"sales_analytics", "price_history"}
            lags = lag["projections"]
            stores = max(v["p99_ms"] for k, v in lags.items() if k not in columnar)
            duck = max(v["p99_ms"] for k, v in lags.items() if k in columnar)
            report.row(
                f"projection lag p99 at {args.lag_rate} commands/s",
                f"Redis + read DB: {stores} ms (worst); DuckDB: {duck} ms",
                "-",
                "-",
            )
        finally:
            horizon.close()
        locked = Deployment(tmp, "lock")
        try:
            _seed(locked, args.products)
            api = locked.start_api()
            locked.start_workers(2)
            assert locked.caught_up(), "workers did not catch up"
            ids = locked.product_ids()
            _, uniform = _ids_files(ids, tmp)
            write_lock = price_changes(
                api.url, uniform, TOKEN, tag="l", duration=args.duration, runs=args.runs
            )
            report.scenarios["write_lock"] = write_lock
        finally:
            locked.close()
        ceiling = Deployment(tmp, "horizon")
        try:
            append = {
                mode: _pgbench_append(ceiling.write_db.url, mode, args.duration)
                for mode in ("horizon", "lock")
            }
        finally:
            ceiling.close()
        report.scenarios["append_pgbench"] = append
        report.row(
            "bare append, pgbench 16 clients",
            f"horizon: {append['horizon']:,.0f} tx/s",
            f"LOCK TABLE: {append['lock']:,.0f} tx/s",
            f"{append['horizon'] / append['lock']:.2f}",
        )
        ratio = write["requests_per_s"] / write_lock["requests_per_s"]
        report.row(
            "ChangePrice, horizon (16 conn)",
            f"{write['requests_per_s']:,.0f} cmd/s, p99 {write['p99_ms']} ms",
            f"LOCK TABLE: {write_lock['requests_per_s']:,.0f} cmd/s, p99 {write_lock['p99_ms']} ms",
            f"{ratio:.2f}",
        )
    print(f"results: {report.write()}")


if __name__ == "__main__":
    main()
