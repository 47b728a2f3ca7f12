"""Product search agrees with a brute-force filter over the write model."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain.errors import DomainError
from catalog.read_models.product_search.postgres_words import words
from catalog.read_models.product_search.rules import search_terms
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.product_search.sqlite_reads import ProductSearchReads
from catalog.read_models.product_search.typos import Typos, fuzzy_words, typo_terms
from catalog.read_models.queries import SearchProducts
from catalog.settings import Settings
from tandem.messages import StoredEvent
from tandem.stores.sqlite import SqliteProjectionStore

# name → parent name: two roots, three levels on one side.
TREE = {"Outdoor": None, "Camp": "Outdoor", "Tents": "Camp", "Shoes": "Outdoor", "Kitchen": None}
CATEGORIES = list(TREE)
WORDS = ["trail", "track", "tree", "boot", "bolt", "red", "ram", "a", "ab"]
RENAMES = ["Trek", "Boots", "Redwood", "Cabin", "Tents"]
EDGES = [0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000]

text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=3).map(" ".join)
name = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
# Few distinct prices across the bucket edges, so ties and edge cases are likely.
prices = st.sampled_from(["0.00", "5.00", "9.99", "10.00", "24.99", "25.00", "99.50", "600.00"])
category = st.sampled_from(CATEGORIES)
pick = st.integers(0, 1000)  # which existing product, modulo how many there are

operations = st.lists(
    st.one_of(
        *[st.tuples(st.just("create"), category, name, text, prices, st.integers(0, 2))] * 3,
        st.tuples(st.just("price"), pick, prices),
        st.tuples(st.just("stock"), pick, st.integers(-2, 2).filter(bool)),
        st.tuples(st.just("details"), pick, name, text, category),
        st.tuples(st.just("discontinue"), pick),
        st.tuples(st.just("rename"), category, st.sampled_from(RENAMES)),
    ),
    min_size=5,
    max_size=30,
)

# Words, prefixes, category names old and new, and misses.
terms = st.sampled_from(
    [*WORDS, "tr", "bo", "r", "tre", "sku", "x", *(n.lower() for n in [*TREE, *RENAMES])]
)
bounds = st.one_of(st.none(), st.sampled_from(["0", "5", "9.995", "10", "25", "99.5", "1000"]))
queries = st.lists(
    st.fixed_dictionaries(
        {
            "q": st.one_of(st.none(), st.lists(terms, min_size=1, max_size=2).map(" ".join)),
            "category": st.one_of(st.none(), category),
            "min_price": bounds,
            "max_price": bounds,
            "in_stock": st.sampled_from([None, True, False]),
            "sort": st.sampled_from(["relevance", "price_asc", "price_desc", "newest"]),
            "limit": st.integers(1, 4),
        }
    ),
    min_size=2,
    max_size=6,
)


def _command(op: tuple[Any, ...], products: list[str], ids: dict[str, str]) -> Any:
    kind = op[0]
    if kind == "create":
        _, where, title, description, price, stock = op
        return c.CreateProduct(
            sku=f"SKU-{len(products)}",
            name=title,
            description=description,
            category_id=ids[where],
            price=Decimal(price),
            initial_stock=stock,
        )
    if kind == "rename":
        return c.RenameCategory(category_id=ids[op[1]], name=op[2])
    product = products[op[1] % len(products)]
    if kind == "price":
        return c.ChangePrice(product_id=product, price=Decimal(op[2]))
    if kind == "stock":
        return c.AdjustStock(product_id=product, delta=op[2], reason="count")
    if kind == "details":
        return c.UpdateProductDetails(
            product_id=product, name=op[2], description=op[3], category_id=ids[op[4]]
        )
    return c.DiscontinueProduct(product_id=product)


class BruteForce:
    """The write model's rows and a plain Python reading of the search rules."""

    def __init__(self, write_database: Path, events: list[StoredEvent]) -> None:
        conn = sqlite3.connect(write_database)
        try:
            self.categories = {
                row[0]: (row[1], row[2])
                for row in conn.execute("SELECT id, name, parent_id FROM categories")
            }
            self.products = conn.execute(
                "SELECT id, sku, name, description, category_id, price_cents, stock"
                " FROM products WHERE status = 'active'"
            ).fetchall()
        finally:
            conn.close()
        self.created = {e.aggregate_id: e.position for e in events if e.type == "ProductCreated"}

    def path(self, category_id: str) -> list[str]:
        path: list[str] = []
        current: str | None = category_id
        while current is not None:
            path.insert(0, current)
            current = self.categories[current][1]
        return path

    def words(self, product: tuple[Any, ...]) -> list[str]:
        _, sku, title, description, category_id, _, _ = product
        names = " ".join(self.categories[cid][0] for cid in self.path(category_id))
        return re.findall(r"[^\W_]+", f"{title} {description} {sku} {names}".lower())

    def matches(self, product: tuple[Any, ...], query: dict[str, Any]) -> bool:
        _, _, _, _, category_id, cents, stock = product
        words = self.words(product)
        for term in re.findall(r"[^\W_]+", (query["q"] or "").lower()):
            if not any(w == term or (len(term) > 1 and w.startswith(term)) for w in words):
                return False
        if query["category"] is not None and query["category"] not in self.path(category_id):
            return False
        if query["min_price"] is not None and cents < Decimal(query["min_price"]) * 100:
            return False
        if query["max_price"] is not None and cents > Decimal(query["max_price"]) * 100:
            return False
        return query["in_stock"] is None or (stock > 0) == query["in_stock"]

    def typo_matches(self, product: tuple[Any, ...], query: dict[str, Any], typos: Typos) -> bool:
        """The typo fallback's reading (`catalog.read_models.product_search.typos`): the
        filters, short terms as prefixes (all left out if one has no word), and every
        longer term similar enough to a word of the name or the category path."""
        exact = " ".join(typos.exact) if all(words(t) for t in typos.exact) else None
        if not self.matches(product, {**query, "q": exact}):
            return False
        _, _, title, _, category_id, _, _ = product
        path = " ".join(self.categories[cid][0] for cid in self.path(category_id))
        return typos.scorer().score(fuzzy_words(title, path)) is not None

    def search(self, query: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        found = [p for p in self.products if self.matches(p, query)]
        typos = None if found else typo_terms(search_terms(query["q"]))
        if typos is not None:
            # Nothing matched as typed: the search answers with the typo fallback.
            found = [p for p in self.products if self.typo_matches(p, query, typos)]
        sort = query["sort"]
        if sort == "relevance" and not (query["q"] or "").strip():
            sort = "newest"
        if sort == "newest":
            found.sort(key=lambda p: self.created[p[0]], reverse=True)
        elif sort in ("price_asc", "price_desc"):
            found.sort(key=lambda p: (p[5], p[0]), reverse=sort == "price_desc")
        return [p[0] for p in found], self.facets(found, query["category"])

    def facets(self, found: list[tuple[Any, ...]], selected: str | None) -> dict[str, Any]:
        children = [cid for cid, (_, parent) in self.categories.items() if parent == selected]
        counts = {cid: sum(1 for p in found if cid in self.path(p[4])) for cid in children}
        ranked = sorted(
            (cid for cid in children if counts[cid]),
            key=lambda cid: (-counts[cid], self.categories[cid][0], cid),
        )
        buckets = []
        for i, low in enumerate(EDGES):
            high = EDGES[i + 1] if i + 1 < len(EDGES) else None
            n = sum(1 for p in found if p[5] >= low and (high is None or p[5] < high))
            if n:
                buckets.append(
                    {
                        "min": f"{Decimal(low) / 100:.2f}",
                        "max": None if high is None else f"{Decimal(high) / 100:.2f}",
                        "count": n,
                    }
                )
        return {
            "category": [
                {"id": cid, "name": self.categories[cid][0], "count": counts[cid]} for cid in ranked
            ],
            "price": buckets,
        }


async def _scenario(
    root: Path, ops: list[tuple[Any, ...]], searches: list[dict[str, Any]], chunk: int
) -> None:
    cat = build_embedded(Settings(data_dir=root / "data"))
    store = SqliteProjectionStore(root / "search.db")
    await cat.start()
    try:
        ids: dict[str, str] = {}
        for title, parent in TREE.items():
            created = await cat.command_bus.dispatch(
                c.CreateCategory(name=title, parent_id=ids[parent] if parent else None)
            )
            ids[title] = created.id
        products: list[str] = []
        for op in ops:
            if op[0] not in ("create", "rename") and not products:
                continue
            try:
                result = await cat.command_bus.dispatch(_command(op, products, ids))
            except DomainError:
                continue  # refused by a business rule: nothing changed, nothing to project
            if op[0] == "create":
                products.append(result.id)

        projection = ProductSearchProjection()
        await store.setup(projection)
        events = await cat.log_reader.read_after(0, 100_000)
        for start in range(0, len(events), chunk):
            await store.apply(projection, events[start : start + chunk])

        truth = BruteForce(cat.settings.write_database, events)
        reads = ProductSearchReads(store.reader)
        for search in searches:
            query = {
                **search,
                "category": None if search["category"] is None else ids[search["category"]],
            }
            expected_ids, expected_facets = truth.search(query)
            filters = {
                **query,
                "min_price": None if query["min_price"] is None else Decimal(query["min_price"]),
                "max_price": None if query["max_price"] is None else Decimal(query["max_price"]),
            }
            walked: list[str] = []
            cursor = None
            for _ in range(len(expected_ids) + 2):
                page = await reads.search(SearchProducts(**filters, cursor=cursor))
                assert page["total"] == len(expected_ids)
                assert page["facets"] == expected_facets
                assert len(page["items"]) <= query["limit"]
                walked.extend(item["id"] for item in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert cursor is None, "pagination did not end"
            if query["sort"] == "relevance" and (query["q"] or "").strip():
                assert sorted(walked) == sorted(expected_ids)  # bm25 order is FTS5's own
                assert len(set(walked)) == len(walked)
            else:
                assert walked == expected_ids

        conn = sqlite3.connect(store.path)
        try:
            conn.execute("INSERT INTO ps_fts (ps_fts, rank) VALUES ('integrity-check', 1)")
        finally:
            conn.close()
    finally:
        await cat.stop()
        cat.close()
        store.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, searches=queries, chunk=st.integers(1, 12))
def test_search_matches_a_brute_force_filter(
    ops: list[tuple[Any, ...]], searches: list[dict[str, Any]], chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(Path(tmp), ops, searches, chunk))
