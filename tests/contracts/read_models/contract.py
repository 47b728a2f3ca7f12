"""The read-model contract: what every backend of each read model answers after one
fixed history.

One base class per read model, its tests written against `ReadModelBackend` and the
expectations of `expected`. A backend's test class inherits the contracts of the read
models it keeps and provides a `read_model_backend` fixture: the history's event log
folded from position 0 into fresh stores of that backend (or, at level 1, the write
database the history was written to), its reads registered on a `QueryBus`:

    class TestRedis(ProductDetailContract, CartViewContract):
        @pytest.fixture
        async def read_model_backend(self, written: Written) -> AsyncIterator[Answering]:
            ...  # fold `written.events` into Redis, register the Redis reads
            yield Answering(bus, written)

The expectations are the domain's, written out by hand, so a backend is checked against
what the catalog means rather than against another backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import pytest

from catalog.domain.errors import InvalidInput, NotFound, NotOwner
from catalog.read_models import queries as q
from tandem.bus import QueryBus
from tandem.messages import Query
from tests.contracts.read_models import expected as x
from tests.contracts.read_models.history import (
    ALICE_CART,
    BAGS,
    BOB_CART,
    BOOT,
    BOOTS,
    CAROL_ORDER,
    CLOG,
    DAVE_CART,
    DAVE_ORDER,
    EMPTY,
    ERIN_ORDER,
    ROAD,
    RUNNER,
    RUNNING,
    SHOES,
    TOTE,
    TRAIL,
    UNKNOWN,
    Written,
)


class ReadModelBackend(Protocol):
    """What a backend's test class hands the suite, one per test."""

    @property
    def written(self) -> Written:
        """The history as the write database recorded it (for its times)."""
        ...

    async def ask(self, query: Query) -> Any:
        """The backend's answer to `query` (its errors raised as they are)."""
        ...


@dataclass(frozen=True)
class Answering:
    """A `ReadModelBackend` made of a query bus with the backend's reads on it."""

    bus: QueryBus
    written: Written

    async def ask(self, query: Query) -> Any:
        return (await self.bus.ask(query)).value


# -- product detail ---------------------------------------------------------------------


class ProductDetailContract:
    """`GetProduct`: the whole display document of one product."""

    @pytest.mark.parametrize(
        "product_id",
        [
            pytest.param(RUNNER, id="renamed-repriced-ordered-and-cancelled"),
            pytest.param(ROAD, id="restocked-then-discontinued"),
            pytest.param(BOOT, id="moved-to-another-category-and-ordered"),
            pytest.param(TOTE, id="in-a-renamed-root-category"),
            pytest.param(CLOG, id="out-of-stock-under-a-renamed-parent"),
        ],
    )
    async def test_a_product_document_shows_its_latest_state_and_category_path(
        self, read_model_backend: ReadModelBackend, product_id: str
    ) -> None:
        assert (
            await read_model_backend.ask(q.GetProduct(product_id=product_id))
            == (x.PRODUCTS[product_id])
        )

    async def test_an_unknown_product_is_not_found(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(NotFound):
            await read_model_backend.ask(q.GetProduct(product_id=UNKNOWN))


# -- category stats ---------------------------------------------------------------------


class CategoryStatsContract:
    """`GetCategoryStats` over a category's whole subtree, and `ListCategories`."""

    @pytest.mark.parametrize(
        "category_id",
        [
            pytest.param(SHOES, id="renamed-root-over-two-levels"),
            pytest.param(RUNNING, id="without-its-discontinued-product"),
            pytest.param(TRAIL, id="with-a-product-moved-in"),
            pytest.param(BOOTS, id="after-a-product-moved-out"),
            pytest.param(BAGS, id="after-a-price-change"),
            pytest.param(EMPTY, id="empty"),
        ],
    )
    async def test_stats_count_the_active_products_of_the_subtree(
        self, read_model_backend: ReadModelBackend, category_id: str
    ) -> None:
        stats = await read_model_backend.ask(q.GetCategoryStats(category_id=category_id))
        assert stats == x.CATEGORY_STATS[category_id]

    async def test_the_tree_lists_every_category_by_name_with_subtree_counts(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        assert await read_model_backend.ask(q.ListCategories()) == {"categories": x.CATEGORY_TREE}

    async def test_stats_of_an_unknown_category_are_not_found(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(NotFound):
            await read_model_backend.ask(q.GetCategoryStats(category_id=UNKNOWN))


# -- cart view --------------------------------------------------------------------------


class CartViewContract:
    """`GetCart`: lines at the products' current names and prices, for the owner only."""

    async def test_a_cart_is_priced_at_the_current_names_and_prices(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        cart = await read_model_backend.ask(q.GetCart(cart_id=ALICE_CART, customer="alice"))
        assert cart == x.cart(ALICE_CART, "alice", x.ALICE_LINES, "64.70")

    async def test_an_admin_reads_any_cart(self, read_model_backend: ReadModelBackend) -> None:
        cart = await read_model_backend.ask(
            q.GetCart(cart_id=ALICE_CART, customer="someone", admin=True)
        )
        assert cart == x.cart(ALICE_CART, "alice", x.ALICE_LINES, "64.70")

    @pytest.mark.parametrize(
        ("cart_id", "owner"),
        [
            pytest.param(BOB_CART, "bob", id="its-only-line-removed"),
            pytest.param(DAVE_CART, "dave", id="checked-out"),
        ],
    )
    async def test_a_cart_without_lines_has_no_currency(
        self, read_model_backend: ReadModelBackend, cart_id: str, owner: str
    ) -> None:
        cart = await read_model_backend.ask(q.GetCart(cart_id=cart_id, customer=owner))
        assert cart == x.cart(cart_id, owner)

    async def test_another_customers_cart_is_refused(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(NotOwner):
            await read_model_backend.ask(q.GetCart(cart_id=ALICE_CART, customer="bob"))

    async def test_an_unknown_cart_is_not_found(self, read_model_backend: ReadModelBackend) -> None:
        with pytest.raises(NotFound):
            await read_model_backend.ask(q.GetCart(cart_id=UNKNOWN, customer="alice"))


# -- order view -------------------------------------------------------------------------


class OrderViewContract:
    """`GetOrder`: lines and prices as captured at checkout, the status kept current."""

    @pytest.mark.parametrize(
        ("order_id", "customer"),
        [
            pytest.param(DAVE_ORDER, "dave", id="placed-before-a-price-change"),
            pytest.param(ERIN_ORDER, "erin", id="cancelled-before-a-rename"),
            pytest.param(CAROL_ORDER, "carol", id="placed-after-a-price-change"),
        ],
    )
    async def test_an_order_keeps_the_names_and_prices_of_its_checkout(
        self, read_model_backend: ReadModelBackend, order_id: str, customer: str
    ) -> None:
        order = await read_model_backend.ask(q.GetOrder(order_id=order_id, customer=customer))
        assert order == x.orders(read_model_backend.written)[order_id]

    async def test_an_admin_reads_any_order(self, read_model_backend: ReadModelBackend) -> None:
        order = await read_model_backend.ask(
            q.GetOrder(order_id=DAVE_ORDER, customer="someone", admin=True)
        )
        assert order == x.orders(read_model_backend.written)[DAVE_ORDER]

    async def test_another_customers_order_is_refused(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(NotOwner):
            await read_model_backend.ask(q.GetOrder(order_id=DAVE_ORDER, customer="erin"))

    async def test_an_unknown_order_is_not_found(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(NotFound):
            await read_model_backend.ask(q.GetOrder(order_id=UNKNOWN, customer="dave"))


# -- product search ---------------------------------------------------------------------


async def _answers_its_pages(backend: ReadModelBackend, search: x.Search) -> None:
    """Every page of `search`, followed by its cursors, holds what it expects."""
    cursor: str | None = None
    for number, ids in enumerate(search.pages, start=1):
        page = await backend.ask(q.SearchProducts(**search.query, cursor=cursor))
        assert [item["id"] for item in page["items"]] == ids, f"page {number}"
        assert page["items"] == [x.SUMMARIES[id] for id in ids], f"page {number}"
        assert page["total"] == search.total, f"page {number}"
        assert page["facets"] == search.facets, f"page {number}"
        last = number == len(search.pages)
        assert (page["next_cursor"] is None) == last, f"page {number}"
        cursor = page["next_cursor"]


class ProductSearchContract:
    """`SearchProducts`: text, category subtree, stock and price filters, sorts, pages
    with cursors, and facet counts over every match."""

    @pytest.mark.parametrize("name", list(x.SEARCHES))
    async def test_a_search_answers_its_pages_total_and_facets(
        self, read_model_backend: ReadModelBackend, name: str
    ) -> None:
        await _answers_its_pages(read_model_backend, x.SEARCHES[name])

    async def test_a_cursor_resumes_only_the_search_that_issued_it(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        first = await read_model_backend.ask(q.SearchProducts(sort="price_asc", limit=1))
        cursor = first["next_cursor"]
        with pytest.raises(InvalidInput):
            await read_model_backend.ask(
                q.SearchProducts(sort="price_asc", limit=1, in_stock=True, cursor=cursor)
            )


class ProductSearchTypoContract:
    """`SearchProducts` with typos, on the backends with a typo fallback (not level 1):
    the same products, order, pages and facets on each."""

    @pytest.mark.parametrize("name", list(x.TYPO_SEARCHES))
    async def test_a_search_with_a_typo_answers_like_every_backend(
        self, read_model_backend: ReadModelBackend, name: str
    ) -> None:
        await _answers_its_pages(read_model_backend, x.TYPO_SEARCHES[name])


# -- analytics --------------------------------------------------------------------------


class SalesAnalyticsContract:
    """`SalesAnalytics`: orders, units and revenue per day, category or product, without
    the cancelled order."""

    async def test_sales_by_day(self, read_model_backend: ReadModelBackend) -> None:
        answer = await read_model_backend.ask(q.SalesAnalytics(group_by="day"))
        assert answer == {"group_by": "day", "rows": x.sales_days(read_model_backend.written)}

    async def test_sales_by_category_as_sold_named_as_now(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        answer = await read_model_backend.ask(q.SalesAnalytics(group_by="category"))
        assert answer == {"group_by": "category", "rows": x.SALES_BY_CATEGORY}

    async def test_sales_by_product(self, read_model_backend: ReadModelBackend) -> None:
        answer = await read_model_backend.ask(q.SalesAnalytics(group_by="product"))
        assert answer == {"group_by": "product", "rows": x.SALES_BY_PRODUCT}

    @pytest.mark.parametrize("group_by", ["day", "category", "product"])
    async def test_a_window_of_the_sales_days_keeps_them_and_a_later_one_has_none(
        self, read_model_backend: ReadModelBackend, group_by: str
    ) -> None:
        written = read_model_backend.written
        first, last = sorted(x.sales_day(written, o) for o in (DAVE_ORDER, CAROL_ORDER))
        within = q.SalesAnalytics(start=first.isoformat(), end=last.isoformat(), group_by=group_by)
        everything = await read_model_backend.ask(q.SalesAnalytics(group_by=group_by))
        assert await read_model_backend.ask(within) == everything
        later = q.SalesAnalytics(start=(last + timedelta(days=1)).isoformat(), group_by=group_by)
        assert await read_model_backend.ask(later) == {"group_by": group_by, "rows": []}

    async def test_an_unknown_grouping_is_invalid_input(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(InvalidInput):
            await read_model_backend.ask(q.SalesAnalytics(group_by="customer"))


class PriceHistoryContract:
    """`PriceHistory`: every price a product had, oldest first, with its time."""

    @pytest.mark.parametrize(
        ("product_id", "prices"),
        [
            pytest.param(RUNNER, ["19.99", "17.50"], id="re-priced-once"),
            pytest.param(TOTE, ["5.00", "6.10"], id="re-priced-between-orders"),
            pytest.param(ROAD, ["50.00"], id="discontinued-never-re-priced"),
        ],
    )
    async def test_the_history_lists_each_price_at_its_time(
        self, read_model_backend: ReadModelBackend, product_id: str, prices: list[str]
    ) -> None:
        answer = await read_model_backend.ask(q.PriceHistory(product_id=product_id))
        assert answer == x.price_history(read_model_backend.written, product_id, prices)

    async def test_an_unknown_product_has_no_price_history(
        self, read_model_backend: ReadModelBackend
    ) -> None:
        with pytest.raises(NotFound):
            await read_model_backend.ask(q.PriceHistory(product_id=UNKNOWN))
