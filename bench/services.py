"""The services deployment the suite measures (`python -m bench.suite --profile
services`); the suite drives it, this module never imports the suite back.

Fresh databases on the machine's PostgreSQL (write and read), a fresh key prefix on
its Redis (or on the Redis that `redis_url` names, such as a Redis Cluster), the direct
PostgreSQL transport; two `tandem worker` processes and one API process (`tandem
serve`), restarted per separation level and ASGI server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import ApiDeployment, Process, patiently
from tandem.testing.throwaway import REDIS_URL, create_database, delete_prefix, drop_database

TOKEN = "bench-admin-token-0123456789-abcdefghijklmnop"


class ServicesDeployment(ApiDeployment):
    profile = "services"
    levels = (1, 3)

    def __init__(
        self, root: Path, redis_url: str = REDIS_URL, settings: dict[str, str] | None = None
    ) -> None:
        self.redis_url = redis_url
        self.write_db = patiently(lambda: asyncio.run(create_database("tandem_bench")))
        self.read_db = patiently(lambda: asyncio.run(create_database("tandem_bench_read")))
        self.prefix = f"tandem_bench_{uuid.uuid4().hex[:8]}"
        self.env = {
            "TANDEM_DATA_DIR": str(root / "services"),
            "TANDEM_ADMIN_TOKEN": TOKEN,
            "TANDEM_DATABASE_URL": self.write_db.url,
            "TANDEM_READ_DATABASE_URL": self.read_db.url,
            "TANDEM_REDIS_URL": redis_url,
            "TANDEM_REDIS_PREFIX": self.prefix,
            **(settings or {}),
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

    def seed(self, products: int) -> dict[str, Any]:
        """The catalog through the domain, many commands per transaction
        (`catalog.seed_bulk.bulk_load`); then two workers fold it."""
        seeded = patiently(lambda: asyncio.run(self._bulk_seed(products)))
        self.start_workers(2)
        return seeded

    async def _bulk_seed(self, products: int) -> dict[str, Any]:
        from catalog import seed, seed_bulk
        from catalog.bootstrap import build_services
        from catalog.settings import Settings

        catalog = build_services(Settings.from_env({**os.environ, **self.env}))
        await catalog.start(projections=False)
        try:
            started = time.perf_counter()
            plan = seed.plan(products, 1)
            planned = time.perf_counter() - started
            report = await seed_bulk.bulk_load(catalog.pool, catalog.registry, plan)
        finally:
            await catalog.stop()
            catalog.close()
            await catalog.aclose()
        return {
            "method": "catalog.seed_bulk.bulk_load: domain aggregates, 500 commands per"
            " transaction, product creations on 3 connections",
            "plan_seconds": round(planned, 1),
            "commands": report.commands,
            "products": report.products,
            "seconds": round(report.seconds, 1),
            "commands_per_s": round(report.commands_per_second),
        }

    def start_workers(self, count: int) -> None:
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "catalog", "worker", "--log-level", "warning"],
                    env={**os.environ, **self.env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        async def fetch() -> list[tuple[Any, ...]]:
            import asyncpg

            conn = await asyncpg.connect(self.write_db.url)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def close(self) -> None:
        self.stop_api()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        patiently(lambda: asyncio.run(drop_database(self.write_db)))
        patiently(lambda: asyncio.run(drop_database(self.read_db)))

        async def clean() -> None:
            from tandem.stores.redis import connect

            client = connect(self.redis_url)
            await delete_prefix(client, self.prefix)
            await client.aclose()

        asyncio.run(clean())
