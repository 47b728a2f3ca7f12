"""The DuckDB projection store: read model and checkpoint commit together or not at all."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.stores.duckdb import DuckDBProjectionStore, DuckDBTransaction


class Boom(Exception):
    pass


class Ledger(Projection[DuckDBTransaction]):
    """Appends one row per event and keeps a running total through plain statements."""

    name = "ledger"
    event_types = frozenset({"Added", "Removed"})

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def setup(self, tx: DuckDBTransaction) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS ledger_rows (position BIGINT, amount INTEGER)")
        tx.execute("CREATE TABLE IF NOT EXISTS ledger_total (id INTEGER PRIMARY KEY, total BIGINT)")

    def apply(self, tx: DuckDBTransaction, event: StoredEvent) -> None:
        if event.data.get("fail"):
            raise Boom(f"position {event.position}")
        if event.data.get("pause"):
            self.reached.set()
            self.gate.wait(10)
        if event.type == "Removed":
            # Must see rows appended earlier in the same batch.
            tx.execute("DELETE FROM ledger_rows WHERE position = ?", (event.data["of"],))
            return
        tx.append("ledger_rows", (event.position, event.data["amount"]))
        tx.execute(
            "INSERT INTO ledger_total VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET total = ledger_total.total + excluded.total",
            (event.data["amount"],),
        )


def event(position: int, type: str = "Added", **data: Any) -> StoredEvent:
    data.setdefault("amount", position)
    return StoredEvent(
        position=position,
        type=type,
        schema_version=1,
        aggregate_type="ledger",
        aggregate_id="l1",
        aggregate_version=position,
        recorded_at=1_700_000_000.0 + position,
        correlation_id="c",
        causation_id="c",
        data=data,
    )


def state(store: DuckDBProjectionStore) -> tuple[list[int], int | None, int]:
    def read(cur: Any) -> tuple[list[int], int | None, int]:
        rows = [r[0] for r in cur.execute("SELECT position FROM ledger_rows ORDER BY 1").fetchall()]
        total = cur.execute("SELECT total FROM ledger_total").fetchone()
        checkpoint = cur.execute(
            "SELECT position FROM tandem_checkpoints WHERE name = 'ledger'"
        ).fetchone()
        return rows, total[0] if total else None, checkpoint[0] if checkpoint else 0

    return store.call(read)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DuckDBProjectionStore]:
    s = DuckDBProjectionStore(tmp_path / "read" / "ledger.duckdb")
    try:
        yield s
    finally:
        s.close()


async def test_setup_creates_tables_and_starts_at_zero(store: DuckDBProjectionStore) -> None:
    assert await store.setup(Ledger()) == 0
    assert state(store) == ([], None, 0)
    assert store.kind == "duckdb"


async def test_a_failing_event_leaves_rows_and_checkpoint_untouched(
    store: DuckDBProjectionStore,
) -> None:
    ledger = Ledger()
    await store.setup(ledger)
    assert await store.apply(ledger, [event(1), event(2)]) == 2
    before = state(store)
    assert before == ([1, 2], 3, 2)

    with pytest.raises(Boom):
        await store.apply(ledger, [event(3), event(4), event(5, fail=True), event(6)])

    assert state(store) == before
    # The connection is usable again: the failed transaction was rolled back, not left open.
    assert await store.apply(ledger, [event(3), event(4)]) == 4
    assert state(store) == ([1, 2, 3, 4], 10, 4)


async def test_reapplying_an_applied_batch_changes_nothing(store: DuckDBProjectionStore) -> None:
    ledger = Ledger()
    await store.setup(ledger)
    batch = [event(1), event(3), event(7)]
    assert await store.apply(ledger, batch) == 7
    applied = state(store)

    assert await store.apply(ledger, batch) == 7
    assert state(store) == applied
    # An overlapping batch applies only what lies past the checkpoint.
    assert await store.apply(ledger, [event(3), event(7), event(9)]) == 9
    assert state(store) == ([1, 3, 7, 9], 20, 9)


async def test_unwanted_events_still_move_the_checkpoint(store: DuckDBProjectionStore) -> None:
    ledger = Ledger()
    await store.setup(ledger)
    assert await store.apply(ledger, [event(1), event(2, type="Ignored")]) == 2
    assert state(store) == ([1], 1, 2)


async def test_statements_see_rows_appended_earlier_in_the_batch(
    store: DuckDBProjectionStore,
) -> None:
    ledger = Ledger()
    await store.setup(ledger)
    await store.apply(ledger, [event(1), event(2), event(3, type="Removed", of=2)])
    assert state(store)[0] == [1]


async def test_reopening_the_file_keeps_checkpoint_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    first = DuckDBProjectionStore(path)
    await first.setup(Ledger())
    await first.apply(Ledger(), [event(1), event(2), event(5)])
    first.close()

    again = DuckDBProjectionStore(path)
    try:
        assert await again.setup(Ledger()) == 5
        assert state(again) == ([1, 2, 5], 8, 5)
        assert await again.apply(Ledger(), [event(5), event(6)]) == 6
        assert state(again) == ([1, 2, 5, 6], 14, 6)
    finally:
        again.close()


async def test_queries_see_committed_state_while_a_batch_is_being_written(
    store: DuckDBProjectionStore,
) -> None:
    ledger = Ledger()
    await store.setup(ledger)
    await store.apply(ledger, [event(1)])
    ledger.gate.clear()

    writing = asyncio.create_task(store.apply(ledger, [event(2), event(3, pause=True)]))
    assert await asyncio.to_thread(ledger.reached.wait, 10)
    # The event loop is free and a reader thread answers from the last commit.
    during = await store.run(lambda cur: cur.execute("SELECT count(*) FROM ledger_rows").fetchone())
    ledger.gate.set()
    assert await writing == 3

    assert during == (1,)
    assert state(store) == ([1, 2, 3], 6, 3)


async def test_a_closed_store_refuses_new_cursors(tmp_path: Path) -> None:
    s = DuckDBProjectionStore(tmp_path / "x.duckdb")
    await s.setup(Ledger())
    s.close()
    with pytest.raises(RuntimeError):
        await asyncio.to_thread(s.call, lambda cur: cur.execute("SELECT 1").fetchone())


def _transaction_memory(store: DuckDBProjectionStore) -> int:
    """Bytes DuckDB holds for transactions: the undo data of changes some open
    transaction might still need to see past."""
    found = store.call(
        lambda cur: cur.execute(
            "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'TRANSACTION'"
        ).fetchone()
    )
    return int(found[0]) if found else 0


async def test_a_read_fetched_in_part_does_not_hold_back_what_later_batches_free(
    store: DuckDBProjectionStore,
) -> None:
    ledger = Ledger()
    await store.setup(ledger)
    await store.apply(ledger, [event(p) for p in range(1, 11)])
    # A one-row answer of a many-row query, as a checkpoint or a lookup reads it: the
    # rest of the result, and its transaction, used to stay open on the reader's cursor.
    await store.run(lambda cur: cur.execute("SELECT position FROM ledger_rows").fetchone())
    before = _transaction_memory(store)
    for start in range(11, 2011, 10):
        await store.apply(ledger, [event(p) for p in range(start, start + 10)])
    assert _transaction_memory(store) - before < 64 * 1024
