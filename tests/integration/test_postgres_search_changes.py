"""Searches that combine a category subtree, word prefixes, the stock filter and the
sorts, page by page, agree between PostgreSQL and SQLite FTS5 after every kind of
change: prices (across price buckets), stock to zero and back, moves between subtrees,
discontinuations and renames; so do cursors issued before a change and followed after.

PostgreSQL keeps what changes often (price, stock, status) apart from the text it
indexes, and each product's category ancestors as lexemes of that text: these cases
check that both stay right as products change and move.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from tests.support.search_backends import Both

from catalog.domain import commands as c
from catalog.read_models.queries import SearchProducts

pytestmark = pytest.mark.services

SORTS = ("price_asc", "price_desc", "newest", "relevance")
TEXTS = (None, "tra", "trail", "t", "tent st", "outd")
# A page of two, so that most searches that find anything take several pages (cursors).
LIMIT = 2

# (name, category key, price, stock)
PRODUCTS = [
    ("Trail runner", "trail", "19.99", 3),
    ("Trail runner lite", "trail", "24.99", 0),
    ("Trailblazer boot", "trail", "120.00", 2),
    ("Road racer", "road", "89.50", 5),
    ("Road trainer", "road", "49.00", 0),
    ("Tent stake", "camping", "4.99", 40),
    ("Trail tent", "camping", "249.00", 1),
    ("Tent stove", "camping", "59.00", 0),
    ("Outdoor pan", "kitchen", "24.99", 7),
    ("Trailer hitch", "kitchen", "9.99", 2),
    ("T bar", "footwear", "10.00", 1),
    ("Trail sock", "footwear", "9.50", 12),
]


class Catalog:
    """Outdoor > Footwear > (Trail, Road), Outdoor > Camping, and Kitchen."""

    def __init__(self, both: Both) -> None:
        self.both = both
        self.categories: dict[str, str] = {}
        self.products: dict[str, str] = {}

    async def build(self) -> None:
        both = self.both
        outdoor = await both.category("Outdoor")
        footwear = await both.category("Footwear", outdoor)
        self.categories = {
            "outdoor": outdoor,
            "footwear": footwear,
            "trail": await both.category("Trail", footwear),
            "road": await both.category("Road", footwear),
            "camping": await both.category("Camping", outdoor),
            "kitchen": await both.category("Kitchen"),
        }
        for name, category, price, stock in PRODUCTS:
            self.products[name] = await both.product(
                self.categories[category], name, price=price, stock=stock
            )
        await both.fold()

    async def price(self, name: str, price: str) -> None:
        await self.both.do(c.ChangePrice(product_id=self.products[name], price=Decimal(price)))

    async def stock(self, name: str, delta: int) -> None:
        await self.both.do(
            c.AdjustStock(product_id=self.products[name], delta=delta, reason="count")
        )

    async def move(self, name: str, category: str) -> None:
        await self.both.do(
            c.UpdateProductDetails(
                product_id=self.products[name], category_id=self.categories[category]
            )
        )

    async def searches_agree(self) -> None:
        """Every combination of subtree, text, stock filter and sort, every page."""
        categories = (None, "outdoor", "footwear", "trail", "camping")
        combinations = list(itertools.product(categories, TEXTS, (None, True), SORTS))
        paged = 0
        for category, q, in_stock, sort in combinations:
            filters: dict[str, Any] = {"q": q, "sort": sort, "in_stock": in_stock}
            if category is not None:
                filters["category"] = self.categories[category]
            pages = await self.both.assert_same(**filters, limit=LIMIT)
            paged += len(pages) > 1
        # Many combinations find enough to follow a cursor (narrow ones find one or none).
        assert paged > len(combinations) // 3
        await self.both.facet_counts_agree_with_products()


@pytest.fixture
async def shop(both: Both) -> Catalog:
    shop = Catalog(both)
    await shop.build()
    return shop


async def test_searches_agree_after_price_and_stock_changes(shop: Catalog) -> None:
    await shop.searches_agree()
    await shop.price("Trail runner", "9.99")  # into the bucket below
    await shop.price("Tent stake", "5.00")  # within its bucket
    await shop.price("Trail tent", "260.00")  # into the bucket above
    await shop.price("Trail tent", "249.00")  # and back, in the same batch
    await shop.stock("Trail runner", -3)  # to zero
    await shop.stock("Road trainer", 4)  # from zero
    await shop.stock("Tent stake", -1)  # still in stock
    await shop.both.fold()
    await shop.searches_agree()


async def test_searches_agree_after_moves_discontinuations_and_renames(shop: Catalog) -> None:
    await shop.move("Trail runner", "camping")  # out of Footwear, within Outdoor
    await shop.move("Tent stove", "kitchen")  # out of Outdoor
    await shop.move("Outdoor pan", "road")  # into Footwear
    await shop.both.fold()
    await shop.searches_agree()
    await shop.move("Trail runner", "trail")  # back, in a batch of its own
    await shop.both.fold()
    await shop.move("Trailer hitch", "camping")
    await shop.both.do(c.DiscontinueProduct(product_id=shop.products["Trail sock"]))
    await shop.both.do(c.RenameCategory(category_id=shop.categories["footwear"], name="Shoes"))
    await shop.move("Road racer", "trail")  # after the rename, in the same batch
    await shop.both.fold()
    await shop.searches_agree()


async def test_a_cursor_issued_before_changes_resumes_alike_after_them(shop: Catalog) -> None:
    both = shop.both
    searches: list[dict[str, Any]] = [
        {"q": "tra", "sort": "price_asc", "in_stock": True},
        {"category": shop.categories["outdoor"], "sort": "price_desc"},
        {"q": "tr", "category": shop.categories["footwear"], "sort": "newest"},
        {"q": "trail", "category": shop.categories["outdoor"], "sort": "price_asc"},
    ]
    cursors = []
    for search in searches:
        first = await both.postgres.search(SearchProducts(**search, limit=2))
        assert first == await both.sqlite.search(SearchProducts(**search, limit=2)), search
        assert first["next_cursor"] is not None, search
        cursors.append(first["next_cursor"])
    await shop.price("Trail runner lite", "5.00")
    await shop.price("Trail tent", "15.00")
    await shop.stock("Road trainer", 3)
    await shop.move("Trail runner", "kitchen")
    await shop.move("Outdoor pan", "trail")
    await both.fold()
    for search, cursor in zip(searches, cursors, strict=True):
        query = SearchProducts(**search, limit=2, cursor=cursor)
        assert await both.postgres.search(query) == await both.sqlite.search(query), search
