"""Benchmarks of the embedded profile: `make bench-embedded`.

Measures, in one run and against baselines measured in the same run:
- detail: GET /products/{id} (Zipf ids) vs a raw Starlette route with a fixed 1 KB body;
- write: ChangePrice with idempotency keys vs a raw route running the same core SQL;
- catch-up: each async projection rebuilt from position 0, events/s.
Results go to bench/results/embedded.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import (
    Process,
    Report,
    catalog_server,
    free_port,
    median_of,
    price_changes,
    wrk,
)

TOKEN = "bench-admin-token"


def _seed(data: Path, products: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "catalog", "seed", "--products", str(products), "--seed", "1"],
        env={**os.environ, "TANDEM_DATA_DIR": str(data)},
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def _ids_file(data: Path, target: Path, *, zipf: bool) -> Path:
    conn = sqlite3.connect(data / "write.db")
    ids = [
        r[0] for r in conn.execute("SELECT id FROM products WHERE status = 'active' ORDER BY sku")
    ]
    conn.close()
    rng = random.Random(3)
    if zipf:
        weights = [1 / (rank + 1) for rank in range(len(ids))]
        chosen = rng.choices(ids, weights=weights, k=20000)
    else:
        chosen = ids
    target.write_text("\n".join(chosen) + "\n")
    return target


async def _catch_up(data: Path) -> dict[str, float]:
    """Rebuild every async projection from position 0 into fresh stores."""
    from catalog.read_models import READ_MODELS
    from tandem.consistency import VersionWatch
    from tandem.eventlog.sqlite import SqliteEventLogReader
    from tandem.projections.runner import ProjectionRunner
    from tandem.stores.sqlite_projections import SqliteProjectionStore

    reader = SqliteEventLogReader(data / "write.db")
    head = VersionWatch(await reader.head())
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in READ_MODELS:
            projection = spec.projection()
            if spec.store == "duckdb":
                from tandem.stores.duckdb_projections import DuckDBProjectionStore

                store: object = DuckDBProjectionStore(Path(tmp) / f"{projection.name}.duckdb")
            else:
                store = SqliteProjectionStore(Path(tmp) / f"{projection.name}.db")
            runner = ProjectionRunner(projection, store, reader, head, batch_size=2000)  # type: ignore[arg-type]
            await runner.start()
            start = time.perf_counter()
            task = asyncio.create_task(runner.run())
            await runner.checkpoint.wait_for(head.value)
            elapsed = time.perf_counter() - start
            task.cancel()
            rates[projection.name] = round(head.value / elapsed)
            store.close()  # type: ignore[attr-defined]
    reader.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    report = Report(
        "embedded",
        meta={
            "products": args.products,
            "duration_s": args.duration,
            "runs": args.runs,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "server": "uvicorn, 1 process (the embedded profile runs projections in-process)",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        seconds = _seed(data, args.products)
        conn = sqlite3.connect(data / "write.db")
        head = conn.execute("SELECT MAX(position) FROM tandem_events").fetchone()[0]
        commands = conn.execute(
            "SELECT COUNT(DISTINCT correlation_id) FROM tandem_events"
        ).fetchone()[0]
        conn.close()
        report.scenarios["seed"] = {
            "events": head,
            "commands": commands,
            "seconds": round(seconds, 1),
        }
        report.row("seed (in-process bus)", f"{commands / seconds:,.0f} commands/s", "-", "-")
        zipf = _ids_file(data, Path(tmp) / "zipf.txt", zipf=True)
        uniform = _ids_file(data, Path(tmp) / "ids.txt", zipf=False)

        base_port = free_port()
        baseline = Process(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.baseline_app:app",
                "--port",
                str(base_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {"BENCH_DB": str(data / "write.db")},
            base_port,
            "/fixed",
        )
        try:
            fixed = median_of(
                [
                    wrk(baseline.url + "/fixed", connections=64, duration=args.duration)
                    for _ in range(args.runs)
                ]
            )
        finally:
            baseline.stop()

        server = catalog_server(data, TOKEN)
        try:
            detail = median_of(
                [
                    wrk(
                        server.url,
                        connections=64,
                        duration=args.duration,
                        script="detail.lua",
                        env={"BENCH_IDS": str(zipf)},
                    )
                    for _ in range(args.runs)
                ]
            )
            write = price_changes(
                server.url, uniform, TOKEN, tag="run", duration=args.duration, runs=args.runs
            )
        finally:
            server.stop()
        raw_port = free_port()
        raw = Process(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.baseline_app:app",
                "--port",
                str(raw_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {"BENCH_DB": str(data / "write.db")},
            raw_port,
            "/fixed",
        )
        try:
            raw_write = median_of(
                [
                    wrk(
                        raw.url,
                        connections=16,
                        duration=args.duration,
                        script="raw_price.lua",
                        env={"BENCH_IDS": str(uniform)},
                    )
                    for _ in range(args.runs)
                ]
            )
        finally:
            raw.stop()
        catch_up = asyncio.run(_catch_up(data))

    report.scenarios.update(
        {
            "baseline_fixed": fixed,
            "detail": detail,
            "write": write,
            "baseline_raw_write": raw_write,
            "catch_up_events_per_s": catch_up,
        }
    )
    report.row("baseline: raw route, 1 KB body", f"{fixed['requests_per_s']:,.0f} req/s", "-", "-")
    report.row(
        "detail GET /products/{id}",
        f"{detail['requests_per_s']:,.0f} req/s p99 {detail['p99_ms']} ms",
        f"raw route {fixed['requests_per_s']:,.0f} req/s",
        f"{detail['requests_per_s'] / fixed['requests_per_s']:.2f}",
    )
    report.row(
        "write ChangePrice + Idempotency-Key",
        f"{write['requests_per_s']:,.0f} cmd/s p99 {write['p99_ms']} ms",
        f"raw SQL route {raw_write['requests_per_s']:,.0f}/s",
        f"{write['requests_per_s'] / raw_write['requests_per_s']:.2f}",
    )
    for name, rate in catch_up.items():
        report.row(f"catch-up {name}", f"{rate:,.0f} events/s", "-", "-")
    print(f"written: {report.write()}")


if __name__ == "__main__":
    main()
