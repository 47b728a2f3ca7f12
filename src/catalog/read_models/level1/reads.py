"""The query handlers of separation level 1: every catalog query, on the write tables.

Each handler validates first, then runs its statements (`statements`, `search`) in one
read snapshot of the write database and builds the document from the rows
(`documents`). Primary-key reads run inline on SQLite (`light`); scans and aggregates
leave the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models import queries as q
from catalog.read_models.level1 import READ_MODEL, documents, search, statements
from catalog.read_models.level1.dialect import Dialect
from catalog.read_models.level1.statements import Statement
from catalog.read_models.sales_analytics.rules import sales_window
from catalog.read_models.shapes import (
    Cart,
    CategoryStats,
    CategoryTree,
    Order,
    PriceHistory,
    ProductDocument,
    SalesReport,
    SearchPage,
)
from tandem.bus import QueryBus


class Snapshots(Protocol):
    """Runs statements in one read transaction of the write database."""

    dialect: Dialect

    async def read(
        self, batch: Sequence[Statement], *, light: bool = False
    ) -> list[Sequence[Any]]: ...


class Level1Reads:
    """Answers every catalog query from the write tables."""

    def __init__(self, snapshots: Snapshots) -> None:
        self._db = snapshots

    async def documents(self, ids: Sequence[str]) -> dict[str, ProductDocument]:
        """The product-detail documents of the products among `ids` that exist."""
        if not ids:
            return {}
        found, path_rows = await self._db.read(
            statements.products(self._db.dialect, ids), light=len(ids) <= 100
        )
        paths = documents.category_paths(path_rows)
        return {row["id"]: documents.product(row, paths) for row in found}

    async def get_product(self, query: q.GetProduct) -> ProductDocument:
        found = await self.documents([query.product_id])
        doc = found.get(query.product_id)
        if doc is None:
            raise NotFound("product", query.product_id)
        return doc

    async def search(self, query: q.SearchProducts) -> SearchPage:
        planned = search.planned(query)
        return search.answer(planned, await self._db.read(search.statements(planned)))

    async def list_categories(self, query: q.ListCategories) -> CategoryTree:
        (rows,) = await self._db.read(statements.category_tree())
        return {"categories": documents.tree(rows)}

    async def get_category_stats(self, query: q.GetCategoryStats) -> CategoryStats:
        named, totals = await self._db.read(statements.category_stats(query.category_id))
        if not named:
            raise NotFound("category", query.category_id)
        return documents.stats(query.category_id, named[0]["name"], totals[0])

    async def get_cart(self, query: q.GetCart) -> Cart:
        owner, lines = await self._db.read(statements.cart(query.cart_id), light=True)
        if not owner:
            raise NotFound("cart", query.cart_id)
        if not query.admin and query.customer != owner[0]["owner"]:
            raise NotOwner(f"cart {query.cart_id} belongs to another customer")
        return documents.cart(query.cart_id, owner[0]["owner"], lines)

    async def get_order(self, query: q.GetOrder) -> Order:
        (rows,) = await self._db.read(
            statements.order(self._db.dialect, query.order_id), light=True
        )
        if not rows:
            raise NotFound("order", query.order_id)
        order = documents.order(rows[0])
        if not query.admin and query.customer != order["customer"]:
            raise NotOwner(f"order {query.order_id} belongs to another customer")
        return order

    async def sales_analytics(self, query: q.SalesAnalytics) -> SalesReport:
        start, end = sales_window(query)
        (rows,) = await self._db.read(
            statements.sales(self._db.dialect, query.group_by, start, end)
        )
        return {"group_by": query.group_by, "rows": [documents.sales_row(r) for r in rows]}

    async def price_history(self, query: q.PriceHistory) -> PriceHistory:
        (rows,) = await self._db.read(
            statements.price_events(self._db.dialect, query.product_id), light=True
        )
        if not rows:
            raise NotFound("product", query.product_id)
        points = [documents.price_point(row) for row in rows]
        return {"product_id": query.product_id, "points": points}

    def register(self, bus: QueryBus) -> None:
        handlers: list[tuple[type, Any]] = [
            (q.GetProduct, self.get_product),
            (q.SearchProducts, self.search),
            (q.ListCategories, self.list_categories),
            (q.GetCategoryStats, self.get_category_stats),
            (q.GetCart, self.get_cart),
            (q.GetOrder, self.get_order),
            (q.SalesAnalytics, self.sales_analytics),
            (q.PriceHistory, self.price_history),
        ]
        for query_type, handler in handlers:
            bus.register(query_type, handler, read_model=READ_MODEL)
