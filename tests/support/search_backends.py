"""Product search in both backends at once: SQLite FTS5 (the reference) and PostgreSQL.

`Both` drives a real embedded catalog, folds its event log into both search models and
compares their answers page by page, following the cursors: totals, facets and items.
Relevance may order matches differently (bm25 against ts_rank), so under relevance the
items are compared as sets; every other sort must give the same list.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from catalog.domain import commands as c
from catalog.read_models.product_search.postgres import TABLES, PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.product_search.sqlite_reads import ProductSearchReads
from catalog.read_models.queries import SearchProducts
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.db.postgres import Pool
from tandem.stores.postgres import PostgresProjectionStore
from tandem.stores.sqlite import SqliteProjectionStore
from tests.support.folding import all_events, fold_log


class Both:
    """A running catalog with the search model in SQLite and in PostgreSQL."""

    def __init__(
        self, cat: EmbeddedRuntime, sqlite_store: SqliteProjectionStore, pool: Pool
    ) -> None:
        self.cat = cat
        self.sqlite_store = sqlite_store
        self.pool = pool
        self.store = PostgresProjectionStore(pool)
        self.projection = PostgresProductSearchProjection()
        self.sqlite = ProductSearchReads(sqlite_store.reader)
        self.postgres = PostgresSearchReads(pool)
        self.skus = 0

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def category(self, name: str, parent: str | None = None) -> str:
        return await self.do(c.CreateCategory(name=name, parent_id=parent))

    async def product(
        self, category: str, name: str, price: str = "10.00", stock: int = 1, description: str = ""
    ) -> str:
        self.skus += 1
        return await self.do(
            c.CreateProduct(
                sku=f"SKU{self.skus:04d}",
                name=name,
                description=description,
                category_id=category,
                price=Decimal(price),
                initial_stock=stock,
            )
        )

    async def fold(self) -> int:
        """Fold the whole log into both models; returns the PostgreSQL checkpoint."""
        sqlite_checkpoint = await fold_log(self.cat, self.sqlite_store, ProductSearchProjection())
        await self.store.setup(self.projection)
        checkpoint = await self.store.apply(self.projection, await all_events(self.cat))
        assert checkpoint == sqlite_checkpoint
        return checkpoint

    async def pg_ids(self, **filters: Any) -> list[str]:
        return [page_id for page in await walk(self.postgres, **filters) for page_id in ids(page)]

    async def assert_same(self, **filters: Any) -> list[dict[str, Any]]:
        """Walk every page of one search in both models and compare; returns PG's pages."""
        expected = await walk(self.sqlite, **filters)
        actual = await walk(self.postgres, **filters)
        return self._compare(filters, expected, actual)

    async def assert_same_in_order(self, **filters: Any) -> list[dict[str, Any]]:
        """`assert_same`, relevance included: for searches both rank alike (the typo
        fallback's summed similarity)."""
        expected = await walk(self.sqlite, **filters)
        actual = await walk(self.postgres, **filters)
        self._compare(filters, expected, actual)
        assert [p["items"] for p in actual] == [p["items"] for p in expected], filters
        return actual

    def _compare(
        self,
        filters: dict[str, Any],
        expected: list[dict[str, Any]],
        actual: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        assert [p["total"] for p in actual] == [p["total"] for p in expected], filters
        assert [p["facets"] for p in actual] == [p["facets"] for p in expected], filters
        assert [len(p["items"]) for p in actual] == [len(p["items"]) for p in expected], filters
        if filters.get("sort", "relevance") == "relevance" and (filters.get("q") or "").strip():
            walked = [i for page in actual for i in page["items"]]
            assert len({i["id"] for i in walked}) == len(walked), filters
            expected_items = [i for page in expected for i in page["items"]]
            assert sorted(walked, key=by_id) == sorted(expected_items, key=by_id), filters
        else:
            assert [p["items"] for p in actual] == [p["items"] for p in expected], filters
        return actual

    async def facet_counts_agree_with_products(self) -> None:
        """The kept facet counts equal a count of the active products."""
        async with self.pool.acquire() as conn:
            kept = await conn.fetch(
                f"SELECT category_id, bucket, in_stock, n FROM {TABLES.facets}"
                " WHERE n <> 0 ORDER BY 1, 2, 3"
            )
            counted = await conn.fetch(
                f"SELECT category_id, bucket, stock > 0, count(*) FROM {TABLES.offers}"
                " WHERE status = 'active' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            )
        assert [tuple(r) for r in kept] == [tuple(r) for r in counted]


def by_id(item: dict[str, Any]) -> str:
    return str(item["id"])


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def walk(reads: Any, **filters: Any) -> list[dict[str, Any]]:
    """Every page of a search, following the cursors."""
    pages: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1_000):
        page = await reads.search(SearchProducts(**filters, cursor=cursor))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")
