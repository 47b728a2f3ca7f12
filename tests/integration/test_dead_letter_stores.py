"""Both dead-letter stores keep letters the same way (SQLite file, PostgreSQL table)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.services import postgres_database

from tandem.db.postgres import create_pool
from tandem.deadletters.postgres import MIGRATIONS, PostgresDeadLetters
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.messages import StoredEvent
from tandem.migrations import migrate


def _event(position: int, aggregate: str) -> StoredEvent:
    return StoredEvent(
        position, "PriceChanged", 2, "product", aggregate, position, 1.5, "corr", "cause",
        {"price": "9.99", "name": "Größe ✓"},
    )  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def letters(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        store = SqliteDeadLetters(tmp_path / "dl.db")
        yield store
        store.close()
        return
    async for db in postgres_database():
        pool = await create_pool(db.url, min_size=1, max_size=2)
        async with pool.acquire() as conn:
            await migrate(conn, [MIGRATIONS])
        yield PostgresDeadLetters(pool)
        await pool.close()


async def test_park_list_and_forget(letters: Any) -> None:
    for position, aggregate in ((10, "a"), (20, "b"), (30, "a"), (40, "c")):
        await letters.park("p1", _event(position, aggregate), f"failed at {position}")
    await letters.park("p2", _event(10, "z"), "other projection")
    await letters.park("p1", _event(10, "a"), "failed again")  # parking twice keeps one
    listed = await letters.list("p1")
    assert [letter.position for letter in listed] == [10, 20, 30, 40]
    assert listed[0].event == _event(10, "a")
    assert listed[0].error == "failed again"
    assert len(await letters.list()) == 5
    assert await letters.parked_aggregates("p1") == {"a", "b", "c"}
    await letters.remove("p1", [20])
    assert await letters.parked_aggregates("p1") == {"a", "c"}
    await letters.forget_after("p1", 30)
    assert [letter.position for letter in await letters.list("p1")] == [10, 30]
    assert [letter.position for letter in await letters.list("p2")] == [10]
