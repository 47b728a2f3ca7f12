"""Reference ceilings measured in the same run as the benchmark.

- `GET /fixed`: a raw Starlette route returning a fixed 1 KB body (HTTP stack ceiling).
- `PUT /raw-price/{id}`: the same SQL a ChangePrice command runs at its core — update
  one product row and insert one event row in one SQLite transaction — behind a raw
  route, on the same single-writer-thread design, without the toolkit.
- `GET /sqlite-read/{id}`: one SQLite primary-key read of a product row.
- `GET /redis-get`: one Redis GET of a ~1 KB value (`BENCH_REDIS_URL`, `BENCH_REDIS_KEY`).
- `GET /pg-read/{id}`: one PostgreSQL primary-key read of a product row (`BENCH_PG_URL`).
- `PUT /raw-price-pg/{id}`: a pydantic body, then one asyncpg transaction running
  `PG_WRITE` (the pgbench script's transaction) on `BENCH_PG_WRITE_URL`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY = b'{"data": "' + b"x" * 1000 + b'"}'
DB = os.environ.get("BENCH_DB", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
REDIS_KEY = os.environ.get("BENCH_REDIS_KEY", "")
PG_URL = os.environ.get("BENCH_PG_URL", "")
PG_WRITE_URL = os.environ.get("BENCH_PG_WRITE_URL", "")
# The write transaction of the PostgreSQL ceiling, shared with pgbench (bench.ceilings):
# update one product row, insert one event row positioned as the event log positions it.
PG_UPDATE = (
    "UPDATE products SET price = $2, price_cents = $3, version = version + 1 WHERE id = $1"
    " RETURNING version"
)
PG_INSERT = (
    "INSERT INTO tandem_events (position, type, schema_version, aggregate_type, aggregate_id,"
    " aggregate_version, recorded_at, correlation_id, causation_id, data)"
    " VALUES ((pg_current_xact_id()::text::bigint << 16), 'RawPrice', 1, 'raw', $1, $3,"
    " extract(epoch from now()), 'c', 'c', $2::jsonb)"
)
_clients: dict[str, Any] = {}
_executor = ThreadPoolExecutor(max_workers=1)
_conn: sqlite3.Connection | None = None
_lock = asyncio.Lock()


def _connection() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(DB, isolation_level=None, check_same_thread=False)
        _conn.execute("PRAGMA journal_mode=WAL")
        _conn.execute("PRAGMA synchronous=NORMAL")
        _conn.execute("PRAGMA busy_timeout=10000")
    return _conn


def _write(product_id: str, price: str) -> int:
    conn = _connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE products SET price = ?, price_cents = ?, version = version + 1 WHERE id = ?",
            (price, int(float(price) * 100), product_id),
        )
        cur = conn.execute(
            "INSERT INTO tandem_events (type, schema_version, aggregate_type, aggregate_id,"
            " aggregate_version, recorded_at, correlation_id, causation_id, data)"
            " VALUES ('RawPrice', 1, 'raw', ?, ?, ?, '', '', ?)",
            (product_id, time.time_ns(), time.time(), json.dumps({"price": price})),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(cur.lastrowid or 0)


class PriceBody(BaseModel):
    price: str


_pool_lock = asyncio.Lock()


async def _pool(url: str) -> Any:
    """One pool per database, made by the first request (the others wait for it)."""
    import asyncpg

    if url not in _clients:
        async with _pool_lock:
            if url not in _clients:
                _clients[url] = await asyncpg.create_pool(url, min_size=2, max_size=16)
    return _clients[url]


def _sqlite_read(product_id: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = (
        _connection().execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
    )
    return row


async def sqlite_read(request: Request) -> Response:
    row = await asyncio.get_running_loop().run_in_executor(
        _executor, _sqlite_read, request.path_params["id"]
    )
    return JSONResponse({"row": [str(v) for v in row or ()]})


async def redis_get(_request: Request) -> Response:
    if "redis" not in _clients:
        import redis.asyncio

        _clients["redis"] = redis.asyncio.Redis.from_url(REDIS_URL)
    value = await _clients["redis"].get(REDIS_KEY)
    return Response(value, media_type="application/json")


async def pg_read(request: Request) -> Response:
    pool = await _pool(PG_URL)
    row = await pool.fetchrow("SELECT * FROM products WHERE id = $1", request.path_params["id"])
    return JSONResponse({k: str(v) for k, v in dict(row or {}).items()})


async def raw_price_pg(request: Request) -> Response:
    body = PriceBody.model_validate_json(await request.body())
    product_id = request.path_params["id"]
    pool = await _pool(PG_WRITE_URL)
    async with pool.acquire() as conn, conn.transaction():
        version = await conn.fetchval(
            PG_UPDATE, product_id, body.price, int(float(body.price) * 100)
        )
        await conn.execute(PG_INSERT, product_id, json.dumps({"price": body.price}), version)
    return JSONResponse({"id": product_id})


async def fixed(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


async def raw_price(request: Request) -> Response:
    body = await request.json()
    async with _lock:
        position = await asyncio.get_running_loop().run_in_executor(
            _executor, _write, request.path_params["id"], str(body["price"])
        )
    return JSONResponse({"id": request.path_params["id"], "version": position})


app = Starlette(
    routes=[
        Route("/fixed", fixed),
        Route("/raw-price/{id}", raw_price, methods=["PUT"]),
        Route("/sqlite-read/{id}", sqlite_read),
        Route("/redis-get", redis_get),
        Route("/pg-read/{id}", pg_read),
        Route("/raw-price-pg/{id}", raw_price_pg, methods=["PUT"]),
    ]
)
