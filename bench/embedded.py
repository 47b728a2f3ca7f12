"""The embedded deployment the suite measures (`python -m bench.suite --profile
embedded`); the suite drives it, this module never imports the suite back.

A fresh data directory (SQLite write database and event log, SQLite and DuckDB read
models), seeded with `tandem seed --bulk`; one API process
(`tandem serve`, projections in-process), restarted per separation level.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ApiDeployment, Process

TOKEN = "bench-admin-token-0123456789-abcdefghijklmnop"


def _seed(data: Path, products: int) -> float:
    """`tandem seed --bulk` into the data directory `data`, projections folded; seconds."""
    started = time.perf_counter()
    subprocess.run(
        [
            *(sys.executable, "-m", "catalog", "seed", "--bulk"),
            *("--products", str(products), "--seed", "1"),
        ],
        env={**os.environ, "TANDEM_DATA_DIR": str(data)},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


class EmbeddedDeployment(ApiDeployment):
    profile = "embedded"
    levels = (1, 2, 3)

    def __init__(self, root: Path) -> None:
        self.data = root / "embedded"
        self.env = {"TANDEM_DATA_DIR": str(self.data), "TANDEM_ADMIN_TOKEN": TOKEN}
        self.api: Process | None = None

    def seed(self, products: int) -> dict[str, Any]:
        """`tandem seed --bulk`: the domain's commands, 500 per transaction, then folded."""
        seconds = _seed(self.data, products)
        (commands,) = self.rows("SELECT COUNT(DISTINCT correlation_id) FROM tandem_events")[0]
        return {
            "method": "tandem seed --bulk: domain aggregates, 500 commands per transaction;"
            " the seconds include folding every read model",
            "commands": commands,
            "products": products,
            "seconds": round(seconds, 1),
            "commands_per_s": round(commands / seconds),
        }

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.data / "write.db")
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()

    def snapshot(self, target: Path) -> Path:
        """A copy of the write database, for the raw SQL ceiling to write to."""
        source = sqlite3.connect(self.data / "write.db")
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
        return target

    def close(self) -> None:
        self.stop_api()


async def catch_up(data: Path) -> dict[str, float]:
    """Rebuild every async projection from position 0 into fresh stores; events/s each."""
    from catalog.read_models.registry import READ_MODELS
    from tandem.consistency import VersionWatch
    from tandem.eventlog.sqlite import SqliteEventLogReader
    from tandem.projections.runner import ProjectionRunner
    from tandem.stores.sqlite import SqliteProjectionStore

    reader = SqliteEventLogReader(data / "write.db")
    head = VersionWatch(await reader.head())
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in READ_MODELS:
            projection = spec.projection()
            if spec.store == "duckdb":
                from tandem.stores.duckdb import DuckDBProjectionStore

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
