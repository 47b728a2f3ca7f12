"""Product search on SQLite FTS5, fed by the real write side's event log."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.folding import all_events, fold_log

from catalog.domain import commands as c
from catalog.domain.errors import InvalidInput
from catalog.read_models.product_search import sqlite as search_fold
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.product_search.sqlite_reads import ProductSearchReads
from catalog.read_models.queries import SearchProducts
from catalog.read_models.sqlite_scopes import TABLE_SUFFIXES
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.bus import QueryBus
from tandem.messages import StoredEvent
from tandem.stores.sqlite import SqliteProjectionStore


class World:
    """A running catalog plus the search read model in a store of its own."""

    def __init__(self, cat: EmbeddedRuntime, store: SqliteProjectionStore) -> None:
        self.cat = cat
        self.store = store
        self.projection = ProductSearchProjection()
        self.reads = ProductSearchReads(store.reader)
        self.skus = 0

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def category(self, name: str, parent: str | None = None) -> str:
        return await self.do(c.CreateCategory(name=name, parent_id=parent))

    async def product(
        self,
        category: str,
        name: str,
        price: str = "10.00",
        stock: int = 1,
        description: str = "",
        sku: str | None = None,
    ) -> str:
        self.skus += 1
        return await self.do(
            c.CreateProduct(
                sku=sku or f"SKU{self.skus:04d}",
                name=name,
                description=description,
                category_id=category,
                price=Decimal(price),
                initial_stock=stock,
            )
        )

    async def events(self) -> list[StoredEvent]:
        return await all_events(self.cat)

    async def project(self) -> int:
        return await fold_log(self.cat, self.store, self.projection)

    async def search(self, **filters: Any) -> dict[str, Any]:
        await self.project()
        return await self.reads.search(SearchProducts(**filters))

    async def ids(self, **filters: Any) -> list[str]:
        """Every matching id, in order, walking all pages."""
        await self.project()
        found: list[str] = []
        cursor = None
        while True:
            page = await self.reads.search(SearchProducts(**filters, cursor=cursor))
            found.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return found


@pytest.fixture
async def world(catalog: EmbeddedRuntime, tmp_path: Path) -> AsyncIterator[World]:
    # Outside the catalog's own read directory, where it may run this projection itself.
    store = SqliteProjectionStore(tmp_path / "under-test" / "product_search.db")
    try:
        yield World(catalog, store)
    finally:
        store.close()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a store as sorted rows, the FTS index as its logical postings.

    How FTS5 splits its index into segments depends on how events were batched into
    transactions, so the index is compared by what it says, not by its pages; the scope
    changes, recorded per batch, are left out.
    """
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND sql NOT LIKE 'CREATE VIRTUAL%' AND name NOT IN ('ps_fts_data', 'ps_fts_idx')"
            )
            if not r[0].endswith(TABLE_SUFFIXES)
        ]
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in sorted(tables)}
        conn.execute("CREATE VIRTUAL TABLE temp.postings USING fts5vocab(main, ps_fts, instance)")
        rows["postings"] = sorted(conn.execute("SELECT * FROM temp.postings").fetchall())
        return rows
    finally:
        conn.close()


def check_index(path: Path) -> None:
    """FTS5's own check that the index holds exactly the text of the content table."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO ps_fts (ps_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


async def test_text_search_matches_words_prefixes_descriptions_and_skus(world: World) -> None:
    shoes = await world.category("Shoes")
    runner = await world.product(shoes, "Trail Runner", description="light and grippy")
    boot = await world.product(shoes, "Winter boot", sku="WB-2000")
    await world.product(shoes, "Sandal")

    assert [i["id"] for i in (await world.search(q="trail"))["items"]] == [runner]
    assert [i["id"] for i in (await world.search(q="TRA"))["items"]] == [runner]
    assert [i["id"] for i in (await world.search(q="run trail"))["items"]] == [runner]
    assert [i["id"] for i in (await world.search(q="grip"))["items"]] == [runner]
    assert [i["id"] for i in (await world.search(q="wb-2000"))["items"]] == [boot]
    # Every word must match.
    assert (await world.search(q="trail boot"))["total"] == 0
    # Category path names are searchable text too.
    assert (await world.search(q="shoes"))["total"] == 3
    assert (await world.search(q="xylophone"))["items"] == []
    # Whitespace alone is no text filter.
    assert (await world.search(q="   "))["total"] == 3


async def test_a_typo_finds_names_and_category_words_alike(world: World) -> None:
    kitchen = await world.category("Kitchen appliances")
    kettle = await world.product(kitchen, "Electric kettle", description="boils water")
    toaster = await world.product(kitchen, "Toaster", price="25.00")

    assert await world.ids(q="kettel") == [kettle]
    assert await world.ids(q="electirc kettel") == [kettle]
    assert await world.ids(q="kitchn", sort="price_asc") == [kettle, toaster]
    # Descriptions and SKUs are full text only; two letters are too few for a typo.
    assert await world.ids(q="boyls") == []
    assert await world.ids(q="ketl xx") == []
    # A renamed product is found by its new words, typo'd, not by its old ones.
    await world.do(c.UpdateProductDetails(product_id=toaster, name="Sandwich grill"))
    assert await world.ids(q="sandwitch") == [toaster]
    assert await world.ids(q="toastr") == []


async def test_a_copy_without_the_typo_vocabulary_searches_without_typos(
    world: World,
) -> None:
    kitchen = await world.category("Kitchen")
    await world.product(kitchen, "Electric kettle")
    await world.project()
    conn = sqlite3.connect(world.store.path)
    with conn:  # as a copy version 1 built: no vocabulary
        for table in ("ps_fts_terms", "ps_word_trigrams", "ps_words"):
            conn.execute(f"DROP TABLE {table}")
    conn.close()
    assert (await world.reads.search(SearchProducts(q="kettel")))["total"] == 0
    assert (await world.reads.search(SearchProducts(q="kettle")))["total"] == 1


async def test_text_search_folds_case_and_diacritics(world: World) -> None:
    cat = await world.category("Cafe")
    creme = await world.product(cat, "Crème brûlée torch")
    assert [i["id"] for i in (await world.search(q="creme brulee"))["items"]] == [creme]
    assert [i["id"] for i in (await world.search(q="CRÈME"))["items"]] == [creme]


async def test_summary_has_the_documented_shape(world: World) -> None:
    shoes = await world.category("Shoes")
    pid = await world.product(shoes, "Trail Runner", price="19.99", stock=3, sku="A1")
    page = await world.search()
    assert page["items"] == [
        {
            "id": pid,
            "sku": "A1",
            "name": "Trail Runner",
            "price": "19.99",
            "currency": "USD",
            "in_stock": True,
            "stock": 3,
            "category": {"id": shoes, "name": "Shoes"},
            "status": "active",
        }
    ]
    assert page["total"] == 1
    assert page["next_cursor"] is None


async def test_category_filter_includes_every_subcategory(world: World) -> None:
    outdoor = await world.category("Outdoor")
    shoes = await world.category("Footwear", outdoor)
    trail = await world.category("Trail", shoes)
    kitchen = await world.category("Kitchen")
    deep = await world.product(trail, "Deep one")
    middle = await world.product(shoes, "Middle one")
    top = await world.product(outdoor, "Top one")
    await world.product(kitchen, "Pan")

    assert set(await world.ids(category=outdoor)) == {deep, middle, top}
    assert set(await world.ids(category=shoes)) == {deep, middle}
    assert set(await world.ids(category=trail)) == {deep}
    # The same filter through the text path, where categories are index tokens.
    assert set(await world.ids(category=outdoor, q="one")) == {deep, middle, top}
    assert set(await world.ids(category=trail, q="one")) == {deep}
    assert await world.ids(category=kitchen, q="one") == []
    unknown = await world.search(category="no-such-category")
    assert unknown["total"] == 0
    assert unknown["items"] == []


async def test_price_range_is_inclusive_and_exact_to_the_cent(world: World) -> None:
    cat = await world.category("Things")
    for price in ("9.99", "10.00", "10.01", "24.99", "25.00"):
        await world.product(cat, f"Thing {price}", price=price)

    async def prices(**filters: Any) -> list[str]:
        page = await world.search(sort="price_asc", **filters)
        return [item["price"] for item in page["items"]]

    assert await prices(min_price=Decimal("10")) == ["10.00", "10.01", "24.99", "25.00"]
    assert await prices(max_price=Decimal("10.00")) == ["9.99", "10.00"]
    assert await prices(min_price=Decimal("10.001"), max_price=Decimal("24.999")) == [
        "10.01",
        "24.99",
    ]
    assert await prices(min_price=Decimal("10"), max_price=Decimal("10")) == ["10.00"]
    assert await prices(min_price=Decimal("30")) == []
    assert await prices(min_price=Decimal("20"), max_price=Decimal("5")) == []
    assert await prices(q="thing", min_price=Decimal("24.99")) == ["24.99", "25.00"]
    assert await prices(max_price=Decimal("1e30")) == ["9.99", "10.00", "10.01", "24.99", "25.00"]


async def test_in_stock_filter_follows_stock_adjustments(world: World) -> None:
    cat = await world.category("Things")
    full = await world.product(cat, "Lamp full", stock=2)
    empty = await world.product(cat, "Lamp empty", stock=0)

    for q in (None, "lamp"):
        assert await world.ids(in_stock=True, q=q) == [full]
        assert await world.ids(in_stock=False, q=q) == [empty]
        assert set(await world.ids(in_stock=None, q=q)) == {full, empty}

    await world.do(c.AdjustStock(product_id=full, delta=-2, reason="sold"))
    await world.do(c.AdjustStock(product_id=empty, delta=5, reason="delivery"))
    for q in (None, "lamp"):
        assert await world.ids(in_stock=True, q=q) == [empty]
        assert await world.ids(in_stock=False, q=q) == [full]
    page = await world.search(q="lamp", in_stock=True)
    assert page["items"][0]["stock"] == 5
    assert page["items"][0]["in_stock"] is True


async def test_every_sort_orders_with_an_id_tie_break(world: World) -> None:
    cat = await world.category("Things")
    a = await world.product(cat, "Kettle alpha", price="5.00")
    b = await world.product(cat, "Kettle beta", price="7.00")
    d = await world.product(cat, "Kettle delta", price="5.00")
    e = await world.product(cat, "Kettle epsilon", price="3.00")
    cheap_ties = sorted([a, d])

    for q in (None, "kettle"):
        assert await world.ids(q=q, sort="price_asc") == [e, *cheap_ties, b]
        assert await world.ids(q=q, sort="price_desc") == [b, *reversed(cheap_ties), e]
        assert await world.ids(q=q, sort="newest") == [e, d, b, a]
    # Without text there is no relevance: newest first.
    assert await world.ids(sort="relevance") == [e, d, b, a]


async def test_relevance_ranks_name_matches_above_description_matches(world: World) -> None:
    cat = await world.category("Things")
    in_description = await world.product(cat, "Plain mug", description="a kettle companion")
    in_name = await world.product(cat, "Kettle", description="boils water")
    assert await world.ids(q="kettle", sort="relevance") == [in_name, in_description]


@pytest.mark.parametrize("sort", ["relevance", "price_asc", "price_desc", "newest"])
@pytest.mark.parametrize("q", [None, "widget"])
async def test_cursor_pages_visit_every_match_exactly_once(
    world: World, sort: str, q: str | None
) -> None:
    cat = await world.category("Things")
    other = await world.category("Other")
    expected = set()
    for i in range(23):
        # Few distinct prices, so most rows tie on the sort key.
        expected.add(await world.product(cat, f"Widget {i}", price=f"{i % 3}.50"))
    await world.product(other, "Gadget")
    filters: dict[str, Any] = {"q": q, "sort": sort, "category": cat}

    walked: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await world.search(**filters, limit=4, cursor=cursor)
        assert page["total"] == 23
        assert len(page["items"]) <= 4
        walked.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 6
    assert len(walked) == len(set(walked)) == 23
    assert set(walked) == expected
    # The walk is the same order as one big page.
    assert walked == [i["id"] for i in (await world.search(**filters, limit=100))["items"]]


async def test_cursor_is_url_safe_and_opaque(world: World) -> None:
    cat = await world.category("Things")
    for i in range(3):
        await world.product(cat, f"Thing {i}")
    cursor = (await world.search(limit=1))["next_cursor"]
    assert cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


async def test_altered_or_foreign_cursors_are_invalid_input(world: World) -> None:
    cat = await world.category("Things")
    for i in range(5):
        await world.product(cat, f"Thing {i}", price=f"{i}.00")
    first = await world.search(q="thing", sort="price_asc", limit=2)
    cursor = first["next_cursor"]
    assert cursor is not None

    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    body["k"][0] = 0  # skip ahead by hand, keeping the old checksum
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    bad = [
        forged,
        flipped,
        cursor[:-4],
        cursor + "AAAA",
        "not a cursor",
        "%%%",
        "",
        "e30",  # {}
        "x" * 5000,
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
    ]
    for candidate in bad:
        with pytest.raises(InvalidInput) as caught:
            await world.search(q="thing", sort="price_asc", limit=2, cursor=candidate)
        assert caught.value.field == "cursor"

    # A real cursor used with other filters or another sort is refused too.
    for other in (
        {"q": "thing", "sort": "price_desc"},
        {"q": "thing", "sort": "price_asc", "in_stock": True},
        {"q": "other", "sort": "price_asc"},
        {"q": "thing", "sort": "price_asc", "min_price": Decimal("1")},
        {"q": "thing", "sort": "price_asc", "category": cat},
        {"sort": "price_asc"},
    ):
        with pytest.raises(InvalidInput) as caught:
            await world.search(**other, limit=2, cursor=cursor)
        assert caught.value.field == "cursor"

    # The same filters (a changed page size included) still accept it.
    page = await world.search(q="THING", sort="price_asc", limit=3, cursor=cursor)
    assert [i["price"] for i in page["items"]] == ["2.00", "3.00", "4.00"]


FINDS_LAMP = "finds the lamp"
FINDS_NOTHING = "finds nothing"
UNFILTERED = "no text filter"
REFUSED = "refused"
HOSTILE = [
    ('"', UNFILTERED),
    ('"""', UNFILTERED),
    ("*", UNFILTERED),
    ("**", UNFILTERED),
    ("^", UNFILTERED),
    ("+", UNFILTERED),
    ("'", UNFILTERED),
    ("\\", UNFILTERED),
    ("\x00", UNFILTERED),
    ("\u200b", UNFILTERED),
    ("NEAR(", FINDS_NOTHING),
    ("NEAR(a b, 2)", FINDS_NOTHING),
    ("AND OR", FINDS_NOTHING),
    ("NOT", FINDS_NOTHING),
    ("OR lamp", FINDS_NOTHING),
    ("name:lamp", FINDS_NOTHING),
    ("{name}: lamp", FINDS_NOTHING),
    # The filter tokens are not searchable text.
    ("filters : s1", FINDS_NOTHING),
    ("s1", FINDS_NOTHING),
    ("c1", FINDS_NOTHING),
    ("a" * 1000, FINDS_NOTHING),
    ("lämp 灯 ランプ 🔦", FINDS_NOTHING),
    ("١٢٣", FINDS_NOTHING),
    ("ﬁ", FINDS_NOTHING),
    ("; DROP TABLE ps_products; --", FINDS_NOTHING),
    ("^lamp", FINDS_LAMP),
    ("lamp*", FINDS_LAMP),
    ("-lamp", FINDS_LAMP),
    ("(lamp", FINDS_LAMP),
    ("lamp)", FINDS_LAMP),
    ('"lamp', FINDS_LAMP),
    ("LÄMP", FINDS_LAMP),
    ("desk:lamp", FINDS_LAMP),
    ("lamp " * 200, FINDS_LAMP),
    (" ".join(f"w{i}" for i in range(20)), REFUSED),
    ("x" * 1025, REFUSED),
]


@pytest.mark.parametrize(("q", "outcome"), HOSTILE)
async def test_hostile_text_is_searched_as_words_never_as_syntax(
    world: World, q: str, outcome: str
) -> None:
    cat = await world.category("Things")
    lamp = await world.product(cat, "Desk lamp")
    try:
        page = await world.search(q=q)
    except InvalidInput as exc:
        assert exc.field == "q"
        assert outcome == REFUSED
        return
    expected = {FINDS_LAMP: [lamp], UNFILTERED: [lamp], FINDS_NOTHING: []}[outcome]
    assert [i["id"] for i in page["items"]] == expected
    # The store is untouched whatever the text said.
    assert (await world.search())["total"] == 1


async def test_operator_words_are_searched_as_words(world: World) -> None:
    cat = await world.category("Things")
    near = await world.product(cat, "Near and far")
    assert [i["id"] for i in (await world.search(q="NEAR AND"))["items"]] == [near]
    assert [i["id"] for i in (await world.search(q='"near'))["items"]] == [near]
    assert [i["id"] for i in (await world.search(q="near*"))["items"]] == [near]


async def test_bad_search_arguments_are_invalid_input(world: World) -> None:
    await world.project()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"sort": "cheapest"}, "sort"),
        ({"sort": ""}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"min_price": Decimal("-1")}, "min_price"),
        ({"max_price": Decimal("NaN")}, "max_price"),
        ({"max_price": Decimal("sNaN")}, "max_price"),
        ({"min_price": Decimal("Infinity")}, "min_price"),
        ({"q": "x" * 5000}, "q"),
    ]
    for filters, field in bad:
        with pytest.raises(InvalidInput) as caught:
            await world.reads.search(SearchProducts(**filters))
        assert caught.value.field == field
    assert (await world.reads.search(SearchProducts(limit=100)))["total"] == 0


async def test_category_rename_reindexes_the_whole_subtree(world: World) -> None:
    gear = await world.category("Gear")
    tents = await world.category("Tents", gear)
    pole = await world.product(gear, "Pole")
    dome = await world.product(tents, "Dome")
    await world.product(await world.category("Kitchen"), "Pan")
    assert set(await world.ids(q="gear")) == {pole, dome}

    await world.do(c.RenameCategory(category_id=gear, name="Equipment"))
    assert set(await world.ids(q="equipment")) == {pole, dome}
    assert set(await world.ids(q="equip tents")) == {dome}
    assert await world.ids(q="gear") == []
    page = await world.search(q="pole")
    assert page["items"][0]["category"] == {"id": gear, "name": "Equipment"}
    facets = (await world.search())["facets"]["category"]
    assert {"id": gear, "name": "Equipment", "count": 2} in facets
    check_index(world.store.path)


async def test_details_update_moves_product_between_categories(world: World) -> None:
    shoes = await world.category("Shoes")
    hats = await world.category("Hats")
    pid = await world.product(shoes, "Runner", description="fast")
    await world.do(
        c.UpdateProductDetails(
            product_id=pid, name="Sun hat", description="wide brim", category_id=hats
        )
    )
    assert await world.ids(category=hats) == [pid]
    assert await world.ids(category=shoes) == []
    assert await world.ids(category=hats, q="brim") == [pid]
    assert await world.ids(category=shoes, q="brim") == []
    assert await world.ids(q="runner") == []
    assert await world.ids(q="fast") == []
    assert await world.ids(q="hats sun") == [pid]
    assert await world.ids(q="shoes") == []
    page = await world.search()
    assert page["items"][0]["category"] == {"id": hats, "name": "Hats"}
    assert page["facets"]["category"] == [{"id": hats, "name": "Hats", "count": 1}]
    check_index(world.store.path)


async def test_price_change_moves_sort_position_and_price_bucket(world: World) -> None:
    cat = await world.category("Things")
    a = await world.product(cat, "Alpha", price="5.00")
    b = await world.product(cat, "Beta", price="8.00")
    await world.do(c.ChangePrice(product_id=a, price=Decimal("120.00")))
    page = await world.search(sort="price_asc")
    assert [i["id"] for i in page["items"]] == [b, a]
    assert page["items"][1]["price"] == "120.00"
    assert page["facets"]["price"] == [
        {"min": "0.00", "max": "10.00", "count": 1},
        {"min": "100.00", "max": "250.00", "count": 1},
    ]
    assert await world.ids(min_price=Decimal("100")) == [a]


async def test_discontinued_products_disappear_everywhere(world: World) -> None:
    cat = await world.category("Things")
    gone = await world.product(cat, "Old lamp", price="30.00")
    kept = await world.product(cat, "New lamp", price="40.00")
    await world.do(c.DiscontinueProduct(product_id=gone))
    # Stock may still move after discontinuation; the product must stay hidden.
    await world.do(c.AdjustStock(product_id=gone, delta=3, reason="returns"))

    for filters in (
        {},
        {"q": "lamp"},
        {"q": "old"},
        {"category": cat},
        {"min_price": Decimal("1")},
        {"in_stock": True},
        {"in_stock": True, "q": "lamp"},
        {"sort": "price_asc"},
    ):
        page = await world.search(**filters)
        ids = [i["id"] for i in page["items"]]
        assert gone not in ids, filters
        assert page["total"] == len(ids) == (0 if filters.get("q") == "old" else 1)
        if ids:
            assert ids == [kept]
            assert sum(f["count"] for f in page["facets"]["price"]) == 1
            if "category" not in filters:
                assert page["facets"]["category"] == [{"id": cat, "name": "Things", "count": 1}]


async def test_facets_count_each_child_subtree_and_price_bucket(world: World) -> None:
    shop = await world.category("Shop")
    shoes = await world.category("Shoes", shop)
    trail = await world.category("Trail", shoes)
    hats = await world.category("Hats", shop)
    await world.category("Empty", shop)
    other = await world.category("Other")
    for price in ("5.00", "9.99", "10.00"):
        await world.product(trail, f"Trail shoe {price}", price=price)
    await world.product(shoes, "Plain shoe", price="60.00")
    await world.product(hats, "Hat", price="600.00", stock=0)
    await world.product(shop, "Gift card", price="25.00")
    await world.product(other, "Other thing", price="250.00")

    everything = await world.search()
    assert everything["total"] == 7
    assert everything["facets"]["category"] == [
        {"id": shop, "name": "Shop", "count": 6},
        {"id": other, "name": "Other", "count": 1},
    ]
    assert everything["facets"]["price"] == [
        {"min": "0.00", "max": "10.00", "count": 2},
        {"min": "10.00", "max": "25.00", "count": 1},
        {"min": "25.00", "max": "50.00", "count": 1},
        {"min": "50.00", "max": "100.00", "count": 1},
        {"min": "250.00", "max": "500.00", "count": 1},
        {"min": "500.00", "max": None, "count": 1},
    ]

    # Below a selected category: its children, the products directly in it counted in
    # the total only; zero counts are left out.
    in_shop = await world.search(category=shop)
    assert in_shop["total"] == 6
    assert in_shop["facets"]["category"] == [
        {"id": shoes, "name": "Shoes", "count": 4},
        {"id": hats, "name": "Hats", "count": 1},
    ]
    # Facets follow every filter, text and price and stock included, but not the cursor.
    for filters in (
        {"category": shop, "q": "shoe"},
        {"category": shop, "q": "shoe", "limit": 1},
        {"category": shop, "max_price": Decimal("60")},
        {"category": shop, "in_stock": True, "min_price": Decimal("5.00")},
    ):
        page = await world.search(**filters)
        assert page["facets"]["category"] == [{"id": shoes, "name": "Shoes", "count": 4}]
        assert page["total"] == (4 if "q" in filters else 5)
    first = await world.search(category=shop, q="shoe", limit=1)
    second = await world.search(category=shop, q="shoe", limit=1, cursor=first["next_cursor"])
    assert second["facets"] == first["facets"]
    assert second["total"] == 4
    in_stock = await world.search(in_stock=False)
    assert in_stock["facets"]["price"] == [{"min": "500.00", "max": None, "count": 1}]


async def test_applying_the_same_events_twice_changes_nothing(world: World) -> None:
    cat = await world.category("Things")
    sub = await world.category("Sub", cat)
    pid = await world.product(sub, "Lamp", price="12.00", stock=1)
    await world.do(c.AdjustStock(product_id=pid, delta=-1, reason="sold"))
    await world.do(c.RenameCategory(category_id=cat, name="Stuff"))
    checkpoint = await world.project()
    before = dump(world.store.path)
    answer = await world.search(q="lamp")

    events = await world.events()
    assert await world.store.apply(world.projection, events) == checkpoint
    for event in events:
        assert await world.store.apply(world.projection, [event]) == checkpoint
    assert dump(world.store.path) == before
    assert await world.reads.search(SearchProducts(q="lamp")) == answer
    check_index(world.store.path)


async def test_event_by_event_equals_one_batch(world: World, tmp_path: Path) -> None:
    shop = await world.category("Shop")
    sub = await world.category("Sub", shop)
    a = await world.product(sub, "Alpha lamp", price="12.00", stock=1)
    b = await world.product(shop, "Beta lamp", price="99.00", stock=0)
    await world.do(c.AdjustStock(product_id=b, delta=4, reason="in"))
    await world.do(c.UpdateProductDetails(product_id=a, category_id=shop, name="Alpha light"))
    await world.do(c.RenameCategory(category_id=sub, name="Subtle"))
    await world.do(c.ChangePrice(product_id=b, price=Decimal("9.00")))
    await world.do(c.DiscontinueProduct(product_id=a))
    await world.project()

    one_by_one = SqliteProjectionStore(tmp_path / "one-by-one.db")
    try:
        projection = ProductSearchProjection()
        await one_by_one.setup(projection)
        for event in await world.events():
            await one_by_one.apply(projection, [event])
        assert dump(one_by_one.path) == dump(world.store.path)
    finally:
        one_by_one.close()
    check_index(world.store.path)


def _segments(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(DISTINCT segid) FROM ps_fts_idx").fetchone()[0])
    finally:
        conn.close()


async def test_settling_merges_an_index_left_in_many_segments(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await world.category("Shop")
    for i in range(6):
        await world.product(shop, f"Lamp {i}", price=f"{10 + i}.00")
    projection = world.projection
    await world.store.setup(projection)
    for event in await world.events():  # a transaction, and a segment, per event
        await world.store.apply(projection, [event])
    answer = await world.search(q="lamp", sort="price_desc")
    assert await world.store.settle(projection) == []  # few segments: left as they are
    segments = _segments(world.store.path)
    assert segments > 1

    monkeypatch.setattr(search_fold, "MERGE_PAST", segments - 1)
    assert await world.store.settle(projection) == ["ps_fts"]
    assert _segments(world.store.path) == 1
    assert await world.search(q="lamp", sort="price_desc") == answer
    check_index(world.store.path)


async def test_registers_search_with_the_query_bus(world: World) -> None:
    cat = await world.category("Things")
    pid = await world.product(cat, "Lamp")
    await world.project()
    bus = QueryBus()
    world.reads.register(bus)
    assert bus.read_model_of(SearchProducts) == "product_search"
    result = await bus.ask(SearchProducts(q="lamp"))
    assert [i["id"] for i in result.value["items"]] == [pid]


def test_event_types_are_exactly_the_ones_applied() -> None:
    assert ProductSearchProjection.event_types == {
        "CategoryCreated",
        "CategoryRenamed",
        "ProductCreated",
        "ProductDetailsUpdated",
        "PriceChanged",
        "StockAdjusted",
        "ProductDiscontinued",
    }
