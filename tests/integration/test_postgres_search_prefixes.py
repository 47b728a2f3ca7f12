"""Word prefixes on PostgreSQL: expanded to the exact words of the search's vocabulary,
or left a prefix, they find what SQLite FTS5 finds."""

from __future__ import annotations

import pytest
from tests.support.search_backends import Both

from catalog.domain import commands as c
from catalog.read_models.product_search import postgres_vocabulary
from catalog.read_models.product_search.postgres import TABLES

pytestmark = pytest.mark.services

SORTS = ("relevance", "price_asc", "price_desc", "newest")


async def _vocabulary(both: Both) -> set[str]:
    rows = await both.pool.fetch(f"SELECT word FROM {TABLES.vocabulary}")
    return {str(row[0]) for row in rows}


async def test_the_vocabulary_holds_every_word_indexed(both: Both) -> None:
    gear = await both.category("Camping Gear")
    await both.product(gear, "Crème lantern", description="Bright, for tents")
    await both.fold()
    assert {"camping", "gear", "creme", "lantern", "bright", "for", "tents", "sku0001"} <= (
        await _vocabulary(both)
    )
    await both.do(c.RenameCategory(category_id=gear, name="Outdoor"))
    await both.fold()
    assert "outdoor" in await _vocabulary(both)


async def test_prefixes_expanded_or_not_find_what_sqlite_finds(
    both: Both, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A prefix beginning more than three words stays a prefix.
    monkeypatch.setattr(postgres_vocabulary, "MAX_EXPANSION", 3)
    music = await both.category("Music")
    for i, name in enumerate(("Alpha horn", "Alphabet blocks", "Alphorn", "Alpine bell", "Alps")):
        await both.product(music, name, price=f"{10 + i}.00", stock=i % 2)
    await both.product(music, "A cappella", description="a voice")
    await both.fold()
    for q in ("alp", "alph", "alpha", "alphorn", "alpi h", "a", "al", "zz", "alp bell"):
        for sort in SORTS:
            await both.assert_same(q=q, sort=sort, limit=2)
            await both.assert_same(q=q, sort=sort, in_stock=True, category=music)
    # Expanded or not, one letter is a whole word.
    assert len(await both.pg_ids(q="a")) == 1


async def test_a_word_no_product_carries_any_more_matches_nothing(both: Both) -> None:
    things = await both.category("Things")
    lamp = await both.product(things, "Lantern")
    await both.fold()
    assert await both.pg_ids(q="lant") == [lamp]
    await both.do(c.UpdateProductDetails(product_id=lamp, name="Lamp"))
    await both.fold()
    assert "lantern" in await _vocabulary(both)
    for q in ("lant", "lantern", "lam"):
        await both.assert_same(q=q)
    assert await both.pg_ids(q="lant") == []
