"""Product search on PostgreSQL answers exactly as the SQLite FTS5 search does.

Each test builds a history through the real embedded catalog, folds its event log into
both read models (SQLite and a fresh PostgreSQL database) and compares the answers of
the two reads page by page: totals, facets and items. Relevance may order matches
differently (bm25 against ts_rank); every other sort must be the same list. What a
search must answer, written out by hand, is the read-model contract
(`tests/contracts/read_models/`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from tests.support.folding import all_events, fold_log
from tests.support.search_backends import Both, ids, walk

from catalog import seed
from catalog.domain import commands as c
from catalog.domain.errors import InvalidInput
from catalog.read_models.product_search.postgres import TABLES, PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_reads import run_search
from catalog.read_models.product_search.postgres_words import tsquery, words
from catalog.read_models.product_search.rules import plan
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.queries import GetProduct, SearchProducts
from tandem.bus import QueryBus
from tandem.db.postgres import Connection, Pool
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.postgres import CheckpointVersionMismatch

pytestmark = pytest.mark.services

SORTS = ("relevance", "price_asc", "price_desc", "newest")


def _queries(plan: seed.SeedPlan, rng: random.Random) -> list[dict[str, Any]]:
    """Searches over a seeded catalog: every sort with and without text and filters."""
    roots = [cmd.id for cmd in plan.categories if cmd.parent_id is None]
    inner = [cmd.id for cmd in plan.categories if cmd.parent_id is not None]
    name_words = sorted({w for p in plan.products for w in words(p.name)})
    terms = [
        *rng.sample(name_words, 6),
        *(w[:3] for w in rng.sample(name_words, 4)),
        " ".join(words(plan.products[0].name)[:2]),
        plan.categories[0].name.lower(),
        plan.products[1].sku,
        "a",
        "zzzqqq",
    ]
    queries: list[dict[str, Any]] = []
    for sort in SORTS:
        queries.append({"sort": sort, "limit": 37})
        queries.append({"sort": sort, "category": roots[0], "limit": 11})
        queries.append({"sort": sort, "category": rng.choice(inner), "limit": 3})
        queries.append({"sort": sort, "in_stock": True, "limit": 50})
        queries.append({"sort": sort, "in_stock": False, "limit": 5})
        queries.append(
            {"sort": sort, "min_price": Decimal("10"), "max_price": Decimal("99.99"), "limit": 20}
        )
        queries.append({"sort": sort, "min_price": Decimal("250.005"), "limit": 13})
        for term in terms:
            queries.append({"sort": sort, "q": term, "limit": 9})
        queries.append(
            {
                "sort": sort,
                "q": terms[0],
                "category": roots[1],
                "in_stock": True,
                "max_price": Decimal("500"),
                "limit": 4,
            }
        )
    return queries


def _typo(word: str, rng: random.Random) -> str:
    """`word` with one slip of the keyboard."""
    at = rng.randrange(len(word))
    slips = (
        word[:at] + word[at + 1 :],
        word[:at] + word[at] + word[at:],
        word[:at] + rng.choice("aeiourst") + word[at + 1 :],
        word[:at] + word[at + 1 : at + 2] + word[at : at + 1] + word[at + 2 :],
    )
    return rng.choice(slips)


async def test_a_seeded_catalog_answers_every_search_as_sqlite_does(both: Both) -> None:
    plan = seed.plan(products=400, seed=11, categories=40)
    await seed.load(both.cat, plan)
    rng = random.Random(11)
    products = list(plan.product_ids)
    leaves = [cmd.id for cmd in plan.categories if cmd.parent_id is not None]
    for product in rng.sample(products, 15):
        await both.do(c.DiscontinueProduct(product_id=product))
    for product in rng.sample(products, 20):
        detail = await both.cat.query_bus.ask(
            GetProduct(product_id=product), min_version=both.cat.head.value
        )
        stock = detail.value["stock"]
        if stock:
            await both.do(c.AdjustStock(product_id=product, delta=-stock, reason="count"))
    for root in [cmd for cmd in plan.categories if cmd.parent_id is None][:2]:
        await both.do(c.RenameCategory(category_id=root.id or "", name=f"{root.name} Renamed"))
    for product in rng.sample(products, 10):
        try:
            await both.do(
                c.UpdateProductDetails(
                    product_id=product, name="Moved Product", category_id=rng.choice(leaves)
                )
            )
        except Exception:  # a discontinued product refuses: nothing to project
            continue
    await both.fold()

    queries = _queries(plan, rng)
    found = 0
    for query in queries:
        pages = await both.assert_same(**query)
        found += pages[0]["total"] > 0
    # The comparisons are mostly of real answers, not of empty ones.
    assert found > len(queries) * 3 // 4
    # Typos: a letter dropped, doubled, replaced or two swapped in words of names and
    # categories; both backends keep and rank the same products.
    texts = [t for p in plan.products for t in (p.name, p.description, p.sku)]
    vocabulary = {w for text in texts + [k.name for k in plan.categories] for w in words(text)}
    typos = 0
    alphabetic = sorted(w for p in plan.products for w in words(p.name) if w.isalpha())
    for word in rng.sample([w for w in alphabetic if len(w) > 3], 16):
        typo = _typo(word, rng)
        if any(w.startswith(typo) for w in vocabulary):
            continue  # full text finds it: no typo to tolerate
        for sort in ("relevance", "price_desc"):
            pages = await both.assert_same_in_order(q=typo, sort=sort, limit=7)
            typos += pages[0]["total"] > 0
    assert typos > 6
    await both.assert_same(q="renamed", sort="price_asc", limit=25)
    await both.assert_same(q="moved product", sort="newest", limit=3)
    await both.facet_counts_agree_with_products()


async def test_filters_sorts_and_pages_agree_on_a_small_catalog(both: Both) -> None:
    outdoor = await both.category("Outdoor")
    shoes = await both.category("Footwear", outdoor)
    trail = await both.category("Trail", shoes)
    kitchen = await both.category("Kitchen")
    for i in range(30):
        where = [outdoor, shoes, trail, kitchen][i % 4]
        await both.product(
            where, f"Widget {i} trail", price=f"{(i * 7) % 60}.{i % 2}9", stock=i % 3
        )
    await both.product(kitchen, "Crème brûlée torch", description="für die Küche")
    await both.fold()

    for sort in SORTS:
        for filters in (
            {},
            {"q": "widget"},
            {"q": "trail"},
            {"q": "wid tra"},
            {"category": outdoor},
            {"category": trail, "q": "widget"},
            {"in_stock": False},
            {"in_stock": True, "q": "widget", "min_price": Decimal("10")},
            {"max_price": Decimal("25"), "category": shoes},
            {"q": "creme kuche"},
            {"q": "CRÈME"},
            {"category": "no-such-category"},
            {"q": "nothing-like-this"},
        ):
            for limit in (1, 4, 100):
                await both.assert_same(sort=sort, limit=limit, **filters)


async def test_category_rename_cascades_into_search(both: Both) -> None:
    outdoor = await both.category("Outdoor")
    shoes = await both.category("Footwear", outdoor)
    deep = await both.product(shoes, "Runner")
    await both.fold()
    assert await both.pg_ids(q="footwear") == [deep]

    await both.do(c.RenameCategory(category_id=outdoor, name="Wilderness"))
    await both.do(c.RenameCategory(category_id=shoes, name="Boots"))
    await both.fold()
    assert await both.pg_ids(q="wilderness boots") == [deep]
    assert await both.pg_ids(q="footwear") == []
    for q in ("wilderness", "boots", "outdoor", "footwear", None):
        await both.assert_same(q=q, category=outdoor)
    page = (await walk(both.postgres, category=outdoor))[0]
    assert page["facets"]["category"] == [{"id": shoes, "name": "Boots", "count": 1}]


async def test_discontinued_and_stock_changes_move_filters_and_facets(both: Both) -> None:
    things = await both.category("Things")
    lamp = await both.product(things, "Lamp", stock=2)
    gone = await both.product(things, "Lamp old", stock=1)
    empty = await both.product(things, "Lamp empty", stock=0)
    await both.fold()
    assert set(await both.pg_ids(in_stock=True)) == {lamp, gone}

    await both.do(c.DiscontinueProduct(product_id=gone))
    await both.do(c.AdjustStock(product_id=lamp, delta=-2, reason="sold"))
    await both.do(c.AdjustStock(product_id=empty, delta=4, reason="delivery"))
    await both.do(c.ChangePrice(product_id=empty, price=Decimal("120.00")))
    await both.fold()
    assert await both.pg_ids(in_stock=True) == [empty]
    assert await both.pg_ids(in_stock=False, q="lamp") == [lamp]
    assert gone not in await both.pg_ids(q="lamp")
    for q in (None, "lamp"):
        for in_stock in (None, True, False):
            await both.assert_same(q=q, in_stock=in_stock, sort="price_desc")
    await both.facet_counts_agree_with_products()


async def test_a_typo_finds_products_when_full_text_finds_nothing(both: Both) -> None:
    shoes = await both.category("Footwear")
    runner = await both.product(shoes, "Trail running shoes")
    await both.product(shoes, "Winter boot")
    await both.fold()

    page = await both.postgres.search(SearchProducts(q="shoos"))
    assert ids(page) == [runner]
    assert page["total"] == 1
    assert page["facets"]["category"] == [{"id": shoes, "name": "Footwear", "count": 1}]
    assert await both.pg_ids(q="runing shoos", sort="price_asc") == [runner]
    # A category name is fuzzy text too, and filters still apply.
    assert len(await both.pg_ids(q="fotwear")) == 2
    assert await both.pg_ids(q="shoos", in_stock=False) == []
    # Exact matches win: near misses are not mixed in.
    await both.product(shoes, "Shoos brand slippers")
    await both.fold()
    assert len(await both.pg_ids(q="shoos")) == 1
    # The SQLite search tolerates the same typos, alike.
    for q in ("shoos", "runing shoos", "fotwear", "shoos brand"):
        for in_stock in (None, False):
            await both.assert_same(q=q, in_stock=in_stock, sort="relevance")
    # Nothing alike: still nothing.
    assert await both.pg_ids(q="xylophone") == []


async def test_a_redelivered_or_overlapping_batch_has_no_second_effect(both: Both) -> None:
    cat = await both.category("Things")
    for i in range(12):
        product = await both.product(cat, f"Thing {i}", price=f"{i}.00", stock=i % 2)
        await both.do(c.ChangePrice(product_id=product, price=Decimal(f"{i + 20}.00")))
    await both.do(c.RenameCategory(category_id=cat, name="Stuff"))
    events = await all_events(both.cat)
    await fold_log(both.cat, both.sqlite_store, ProductSearchProjection())
    await both.store.setup(both.projection)

    half = len(events) // 2
    assert await both.store.apply(both.projection, events[:half]) == events[half - 1].position
    before = await _dump(both.pool)
    assert await both.store.apply(both.projection, events[:half]) == events[half - 1].position
    assert await _dump(both.pool) == before
    head = events[-1].position
    assert await both.store.apply(both.projection, events[half // 2 :]) == head
    after = await _dump(both.pool)
    assert await both.store.apply(both.projection, events) == head
    assert await both.store.apply(both.projection, events[3:7]) == head
    assert await _dump(both.pool) == after
    assert await both.store.checkpoint(both.projection.name) == head
    for sort in SORTS:
        await both.assert_same(q="stuff", sort=sort, limit=5)
        await both.assert_same(sort=sort, limit=5)
    await both.facet_counts_agree_with_products()


async def _dump(pool: Pool) -> dict[str, list[tuple[Any, ...]]]:
    # Every table, the scope changes included: a batch applied again records none.
    tables = dataclasses.astuple(TABLES)
    async with pool.acquire() as conn:
        return {
            t: sorted(tuple(str(v) for v in row) for row in await conn.fetch(f"SELECT * FROM {t}"))
            for t in tables
        }


class Tally(AsyncProjection[Connection]):
    """Records every event it is handed, slowly, so concurrent batches overlap in time."""

    name = "tally"
    version = 1
    event_types: ClassVar[frozenset[str]] = frozenset({"CategoryCreated", "ProductCreated"})

    async def setup(self, tx: Connection) -> None:
        await tx.execute("CREATE TABLE IF NOT EXISTS tally_v1 (position BIGINT NOT NULL)")

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await tx.execute("INSERT INTO tally_v1 (position) VALUES ($1)", event.position)
        await asyncio.sleep(0.002)


async def test_concurrent_applies_apply_each_event_once(both: Both) -> None:
    cat = await both.category("Things")
    for i in range(15):
        await both.product(cat, f"Thing {i}", stock=i % 3)
    events = await all_events(both.cat)
    tally = Tally()
    await both.store.setup(tally)
    await both.store.setup(both.projection)
    await fold_log(both.cat, both.sqlite_store, ProductSearchProjection())

    # Every batch starts where a runner's would, at the start of the log (a batch that
    # started past a gap would be applied past it: the store trusts its caller's order).
    batches = [events, events[:12], events[: len(events) // 2], events, events[:9]]
    results = await asyncio.gather(
        *(both.store.apply(tally, batch) for batch in batches),
        *(both.store.apply(both.projection, batch) for batch in batches),
    )
    head = events[-1].position
    assert head in results
    rows = await both.pool.fetch("SELECT position FROM tally_v1 ORDER BY position")
    assert [r[0] for r in rows] == [e.position for e in events if e.type in tally.event_types]
    assert await both.store.checkpoint("tally") == head
    assert await both.store.apply(both.projection, events) == head
    for sort in SORTS:
        await both.assert_same(sort=sort, limit=4)
        await both.assert_same(q="thing", sort=sort, limit=4)
    await both.facet_counts_agree_with_products()


async def test_setup_is_idempotent_and_checkpoints_are_read_by_name(both: Both) -> None:
    assert await both.store.checkpoint("product_search") == 0
    await both.category("Things")
    assert await both.store.setup(both.projection) == 0
    head = await both.fold()
    assert await both.store.setup(both.projection) == head
    assert await both.store.checkpoint("product_search") == head
    assert await both.store.checkpoint("unknown") == 0
    async with both.pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'product_search%' ORDER BY 1"
        )
    prefix = f"product_search_v{PostgresProductSearchProjection.version}_"
    assert all(r[0].startswith(prefix) for r in tables)


async def test_another_version_is_refused_rather_than_continued(both: Both) -> None:
    await both.category("Things")
    await both.fold()

    class NextVersion(PostgresProductSearchProjection):
        version = PostgresProductSearchProjection.version + 1

    with pytest.raises(CheckpointVersionMismatch):
        await both.store.apply(NextVersion(), await all_events(both.cat))


async def test_bad_input_is_refused_with_the_same_errors(both: Both) -> None:
    cat = await both.category("Things")
    for i in range(3):
        await both.product(cat, f"Thing {i}")
    await both.fold()
    cursor = (await both.postgres.search(SearchProducts(limit=1)))["next_cursor"]
    assert cursor is not None
    bad = [
        SearchProducts(limit=0),
        SearchProducts(sort="cheapest"),
        SearchProducts(cursor="not a cursor"),
        SearchProducts(cursor=cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]),
        SearchProducts(cursor=cursor, sort="price_asc"),
        SearchProducts(cursor=cursor, q="thing"),
        SearchProducts(min_price=Decimal("-1")),
        SearchProducts(q="x" * 2000),
    ]
    for query in bad:
        with pytest.raises(InvalidInput) as expected:
            await both.sqlite.search(query)
        with pytest.raises(InvalidInput) as actual:
            await both.postgres.search(query)
        assert str(actual.value) == str(expected.value)


async def test_registers_search_with_the_query_bus(both: Both) -> None:
    bus = QueryBus()
    both.postgres.register(bus)
    assert bus.read_model_of(SearchProducts) == "product_search"


@pytest.mark.parametrize(
    "text",
    [
        "Crème brûlée, WB-2000 e-mail 19.99 l'été",
        "ÆØÅ straße İstanbul ǅemal ﬁsh µm \u017f",
        "Ελληνικά Кириллица 中文字符 日本語テキスト",
        "x\u0301y a\u0305b \u19b0z tab\tnew\nline_under",
    ],
)
def test_words_split_as_fts5_splits(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'unicode61 remove_diacritics 2')"
    )
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab (t, instance)")
    conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (text,))
    expected = [row[0] for row in conn.execute("SELECT term FROM v ORDER BY offset")]
    conn.close()
    assert words(text) == expected


def test_tsquery_prefixes_terms_and_refuses_wordless_ones() -> None:
    assert tsquery(("trail", "a")) == "'trail':* & 'a'"
    assert tsquery(("ab\u19b0cd",)) == "('ab' <-> 'cd':*)"
    assert tsquery(("\u19b0",)) is None


async def _statements(both: Both, **filters: Any) -> list[str]:
    """The statements one search sends to the read database."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    async with both.pool.acquire() as conn:
        conn.add_query_logger(log)
        try:
            await run_search(conn, plan(SearchProducts(**filters)))
        finally:
            conn.remove_query_logger(log)
    return sent


async def test_a_search_is_one_statement_and_the_typo_fallback_one_more(both: Both) -> None:
    shoes = await both.category("Shoes")
    trail = await both.category("Trail", shoes)
    await both.product(trail, "Trail runner", price="120.00", stock=3)
    await both.product(shoes, "Canvas sneaker", price="40.00", stock=0)
    await both.fold()
    for filters in (
        {"q": "trail", "category": shoes, "in_stock": True, "sort": "price_asc"},
        {"category": shoes},
        {"q": "runner", "min_price": Decimal("100")},
        {"category": "no-such-category"},
    ):
        assert len(await _statements(both, **filters)) == 1, filters
    # Full text finds nothing: one more statement (in its transaction) tries trigrams.
    typo = await _statements(both, q="runnr")
    assert len([s for s in typo if "json_agg" in s]) == 2, typo
    assert (await both.postgres.search(SearchProducts(q="runnr")))["total"] == 1
