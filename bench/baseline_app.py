"""Reference ceilings measured in the same run as the benchmark.

- `GET /fixed`: a raw Starlette route returning a fixed 1 KB body (HTTP stack ceiling).
- `PUT /raw-price/{id}`: the same SQL a ChangePrice command runs at its core — update
  one product row and insert one event row in one SQLite transaction — behind a raw
  route, on the same single-writer-thread design, without the toolkit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY = b'{"data": "' + b"x" * 1000 + b'"}'
DB = os.environ.get("BENCH_DB", "")
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
    routes=[Route("/fixed", fixed), Route("/raw-price/{id}", raw_price, methods=["PUT"])]
)
