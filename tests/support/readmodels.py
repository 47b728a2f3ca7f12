"""Dump read models and rebuild them from the event log, to compare the two."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from catalog.read_models import sqlite_scopes as scope_tables
from catalog.read_models.registry import READ_MODELS
from catalog.runtime.rebuilds.files import live_file
from catalog.settings import Settings
from tandem.eventlog import sqlite as sqlite_log
from tandem.projections.base import Projection
from tandem.stores.duckdb import DuckDBProjectionStore
from tandem.stores.sqlite import SqliteProjectionStore, TableNames
from tandem.stores.sqlite_sync import live_names

Dump = dict[str, list[tuple[Any, ...]]]


def _sqlite_tables(projection: Projection[Any]) -> list[str]:
    """The tables a projection owns: those its setup creates, minus FTS shadow tables and
    the scope changes it records per batch (which differ with the batches' sizes)."""
    conn = sqlite3.connect(":memory:")
    projection.setup(conn)
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    virtual = [name for name, sql in rows if sql and sql.upper().startswith("CREATE VIRTUAL")]
    return sorted(
        name
        for name, _ in rows
        if not name.startswith("sqlite_")
        and not any(name.startswith(v + "_") for v in virtual)
        and not name.endswith(scope_tables.TABLE_SUFFIXES)
    )


def _dump_sqlite(path: Path, tables: list[str], names: TableNames | None = None) -> Dump:
    """Rows of `tables`, read from the copy `names` addresses (the first by default)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sql = (names or TableNames({})).sql
    try:
        return {
            table: sorted(conn.execute(sql(f"SELECT * FROM {table}")).fetchall(), key=repr)
            for table in tables
        }
    finally:
        conn.close()


def _dump_duckdb(path: Path) -> Dump:
    import duckdb

    conn = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
            if r[0] != "tandem_checkpoints"
        ]
        return {
            t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in sorted(tables)
        }
    finally:
        conn.close()


def dump_live(settings: Settings) -> dict[str, Dump]:
    """Every read model's rows as the running system left them."""
    dumps: dict[str, Dump] = {}
    for spec in READ_MODELS:
        projection = spec.projection()
        mode = settings.mode_of(projection.name, can_sync=spec.can_sync)
        if spec.store == "duckdb":
            dumps[projection.name] = _dump_duckdb(
                live_file(settings.data_dir / "read", projection.name, ".duckdb")
            )
        elif mode == "sync":
            with contextlib.closing(
                sqlite3.connect(f"file:{settings.write_database}?mode=ro", uri=True)
            ) as conn:
                names = live_names(conn, projection)  # the tables a sync rebuild made live
            dumps[projection.name] = _dump_sqlite(
                settings.write_database, _sqlite_tables(projection), names
            )
        else:
            dumps[projection.name] = _dump_sqlite(
                live_file(settings.data_dir / "read", projection.name, ".db"),
                _sqlite_tables(projection),
            )
    return dumps


def rebuild(settings: Settings, target: Path, batch_size: int = 1000) -> dict[str, Dump]:
    """Fold the whole event log from position 0 into fresh stores and dump them."""
    target.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_rebuild(settings, target, batch_size))


async def _rebuild(settings: Settings, target: Path, batch_size: int) -> dict[str, Dump]:
    log = sqlite3.connect(f"file:{settings.write_database}?mode=ro", uri=True)
    dumps: dict[str, Dump] = {}
    try:
        for spec in READ_MODELS:
            projection = spec.projection()
            store: Any
            if spec.store == "duckdb":
                path = target / f"{projection.name}.duckdb"
                store = DuckDBProjectionStore(path)
            else:
                path = target / f"{projection.name}.db"
                store = SqliteProjectionStore(path)
            await store.setup(projection)
            position = 0
            while events := sqlite_log.read_after(log, position, batch_size):
                position = await store.apply(projection, events)
            store.close()
            dumps[projection.name] = (
                _dump_duckdb(path)
                if spec.store == "duckdb"
                else _dump_sqlite(path, _sqlite_tables(projection))
            )
    finally:
        log.close()
    return dumps
