"""The history of the read-model contract, written once per session to an embedded
catalog; each backend folds its event log (or, at level 1, reads its write database)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from catalog.bootstrap import build_embedded
from catalog.read_models.registry import READ_MODELS, Reads, StoreKind
from catalog.settings import Settings
from tandem.bus import QueryBus
from tandem.stores.duckdb import DuckDBProjectionStore
from tandem.stores.sqlite import SqliteProjectionStore
from tests.contracts.read_models.contract import Answering
from tests.contracts.read_models.history import Written, write_history
from tests.support.folding import all_events, fold_events


@dataclass(frozen=True)
class EmbeddedHistory:
    """The history as the embedded profile recorded it: its log and write database."""

    written: Written
    write_database: Path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def embedded_history(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedHistory:
    cat = build_embedded(Settings(data_dir=tmp_path_factory.mktemp("read-model-contract")))
    await cat.start()
    try:
        await write_history(cat.command_bus.dispatch)
        events = await all_events(cat)
    finally:
        await cat.stop()
        cat.close()
    return EmbeddedHistory(Written(events), cat.settings.write_database)


@contextlib.asynccontextmanager
async def embedded_read_models(
    kind: StoreKind, history: EmbeddedHistory, directory: Path
) -> AsyncIterator[Answering]:
    """The embedded profile's read models kept in `kind` stores (SQLite or DuckDB), each
    in a fresh file under `directory`, the history folded in from position 0."""
    bus = QueryBus()
    stores: list[SqliteProjectionStore | DuckDBProjectionStore] = []
    try:
        for spec in READ_MODELS:
            if spec.store is not kind:
                continue
            projection = spec.projection()
            reads: Reads
            store: Any
            if kind is StoreKind.SQLITE:
                store = SqliteProjectionStore(directory / f"{projection.name}.db")
                reads = spec.reads(store.reader)
            else:
                store = DuckDBProjectionStore(directory / f"{projection.name}.duckdb")
                reads = spec.reads(store)
            stores.append(store)
            await fold_events(store, projection, history.written.events)
            reads.register(bus)
        yield Answering(bus, history.written)
    finally:
        for opened in stores:
            opened.close()
