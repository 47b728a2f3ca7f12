"""The machine's ceilings, measured in the same run as the benchmark they bound.

- HTTP: a raw Starlette route (bench.baseline_app, one process, under the ASGI server
  the product is measured with) returning a fixed 1 KB body; the same kind of route
  doing one Redis GET, one PostgreSQL or SQLite primary-key read, and the write
  transaction below. Each point after an unmeasured second, as the product's reads are
  measured warm.
- Stores without Python: `redis-benchmark` GET and `pgbench` running "update one
  product row + insert one event row" per transaction, 16 clients.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import Process, free_port, wrk, wrk_median

# pgbench's transaction; the raw route runs the same two statements (baseline_app).
PGBENCH_WRITE = """
\\set n random(1, {rows})
\\set cents random(100, 90000)
BEGIN;
UPDATE products SET price = (:cents / 100.0)::text, price_cents = :cents,
  version = version + 1 WHERE id = 'raw-' || :n RETURNING version \\gset
INSERT INTO tandem_events (position, type, schema_version, aggregate_type, aggregate_id,
  aggregate_version, recorded_at, correlation_id, causation_id, data)
  VALUES ((pg_current_xact_id()::text::bigint << 16), 'RawPrice', 1, 'raw', 'raw-' || :n,
  :version, extract(epoch from now()), 'c', 'c', '{{"price": "1.00"}}');
END;
"""
RAW_ROWS = 10_000


def baseline_server(env: dict[str, str], server: str) -> Process:
    """bench.baseline_app in one process under `server` (uvicorn or granian), configured
    as `tandem serve` configures it: no access log."""
    port = free_port()
    if server == "granian":
        args = ["-m", "granian", "--interface", "asgi", "--workers", "1", "--no-access-log"]
        args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    else:
        args = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--log-level", "warning", "--no-access-log"]
    return Process([sys.executable, *args, "bench.baseline_app:app"], env, port, "/fixed")


def http_ceilings(
    env: dict[str, str],
    points: dict[str, tuple[str, int, str | None, dict[str, str]]],
    runs: int,
    duration: int,
    server: str,
) -> dict[str, Any]:
    """wrk over the baseline app under `server`: name → (path, connections, lua script,
    script env)."""
    app = baseline_server(env, server)
    try:
        out: dict[str, Any] = {}
        for name, (path, connections, script, script_env) in points.items():
            url = app.url + path
            wrk(url, connections=connections, duration=1, script=script, env=script_env)
            out[name] = wrk_median(
                url, runs, connections=connections, duration=duration, script=script, env=script_env
            )
        return out
    finally:
        app.stop()


def redis_benchmark_get() -> float:
    """Redis answering GETs of ~1 KB values to 64 clients, unpipelined."""
    out = subprocess.run(
        ["redis-benchmark", "-t", "get", "-n", "100000", "-c", "64", "-d", "1000", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.rsplit("GET:", 1)[1].split("requests per second")[0].strip())


async def migrated_raw_products(url: str) -> list[str]:
    """The catalog's schema in the empty database at `url`, then `prepare_raw_products`."""
    import asyncpg

    from catalog.migrations import MIGRATIONS
    from tandem.migrations import migrate

    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, MIGRATIONS)
    finally:
        await conn.close()
    return await prepare_raw_products(url)


async def prepare_raw_products(url: str) -> list[str]:
    """`RAW_ROWS` product rows (and their category) in a migrated, empty database."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO categories (id, name, slug, parent_id, version)"
            " VALUES ('raw', 'Raw', 'raw', NULL, 1)"
        )
        await conn.execute(
            "INSERT INTO products (id, sku, name, description, category_id, price, price_cents,"
            " currency, attributes, stock, status, version)"
            " SELECT 'raw-' || n, 'RAW-' || n, 'Raw product ' || n, 'A row', 'raw', '9.99',"
            " 999, 'USD', '{}'::jsonb, 10, 'active', 1 FROM generate_series(1, $1) AS n",
            RAW_ROWS,
        )
        await conn.execute("VACUUM ANALYZE products")
    finally:
        await conn.close()
    return [f"raw-{n}" for n in range(1, RAW_ROWS + 1)]


def pgbench_write(url: str, seconds: int, clients: int = 16) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_WRITE.format(rows=RAW_ROWS))
        script.flush()
        out = subprocess.run(
            ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f",
             script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
    tps = float(out.split("tps = ", 1)[1].split()[0])
    latency = float(out.split("latency average = ", 1)[1].split()[0])
    return {"tps": round(tps, 1), "latency_avg_ms": latency, "clients": clients}


def write_ids(ids: list[str], path: Path) -> Path:
    path.write_text("\n".join(ids) + "\n")
    return path


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
