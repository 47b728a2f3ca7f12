"""What the read models must answer after the history of `history`, written out by hand.

Each figure follows from the history's meaning, never from a backend; the comments show
the arithmetic. The final state of the products:

    product       category           price   stock  status        version
    runner        Trail              17.50   3      active        5  (created, re-priced,
                                                                      erin's order, its
                                                                      cancellation, renamed)
    road runner   Running            50.00   5      discontinued  3
    boot          Trail (moved)      120.55  5      active        3  (created, moved,
                                                                      dave's order)
    tote          Bags → Luggage     6.10    4      active        4  (created, dave's order,
                                                                      re-priced, carol's)
    clog          Boots              24.99   0      active        1

Times (when an order was placed, when a price was recorded) are the catalog's own, so
the documents holding them are built from `Written`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tests.contracts.read_models.history import (
    BAGS,
    BOOT,
    BOOTS,
    CAROL_ORDER,
    CLOG,
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

FOOTWEAR_PATH = ["Footwear"]
RUNNING_PATH = ["Footwear", "Running"]
TRAIL_PATH = ["Footwear", "Running", "Trail"]


def _category(id: str, name: str, path: list[str]) -> dict[str, Any]:
    return {"id": id, "name": name, "path": path}


PRODUCTS: dict[str, dict[str, Any]] = {
    RUNNER: {
        "id": RUNNER,
        "sku": "TR-1",
        "name": "All-terrain runner",
        "description": "Light and grippy",
        "category": _category(TRAIL, "Trail", TRAIL_PATH),
        "price": "17.50",
        "currency": "USD",
        "stock": 3,  # 3, erin's order took 1, its cancellation gave it back
        "in_stock": True,
        "status": "active",
        "attributes": {"colour": "red"},
        "version": 5,
    },
    ROAD: {
        "id": ROAD,
        "sku": "RR-1",
        "name": "Road runner",
        "description": "Fast on asphalt",
        "category": _category(RUNNING, "Running", RUNNING_PATH),
        "price": "50.00",
        "currency": "USD",
        "stock": 5,
        "in_stock": True,
        "status": "discontinued",
        "attributes": {},
        "version": 3,
    },
    BOOT: {
        "id": BOOT,
        "sku": "HB-1",
        "name": "Mountain boot",
        "description": "Waterproof leather",  # kept: the update named no description
        "category": _category(TRAIL, "Trail", TRAIL_PATH),
        "price": "120.55",
        "currency": "USD",
        "stock": 5,  # 7 - 2 for dave
        "in_stock": True,
        "status": "active",
        "attributes": {"size": "44"},
        "version": 3,
    },
    TOTE: {
        "id": TOTE,
        "sku": "CT-1",
        "name": "Canvas tote",
        "description": "Sturdy cotton",
        "category": _category(BAGS, "Luggage", ["Luggage"]),
        "price": "6.10",
        "currency": "USD",
        "stock": 4,  # 6 - 1 for dave - 1 for carol
        "in_stock": True,
        "status": "active",
        "attributes": {},
        "version": 4,
    },
    CLOG: {
        "id": CLOG,
        "sku": "GC-1",
        "name": "Garden clog",
        "description": "Rubber, for the garden",
        "category": _category(BOOTS, "Boots", [*FOOTWEAR_PATH, "Boots"]),
        "price": "24.99",
        "currency": "USD",
        "stock": 0,
        "in_stock": False,
        "status": "active",
        "attributes": {},
        "version": 1,
    },
}


def _stats(
    id: str,
    name: str,
    count: int,
    in_stock: int,
    stock: int,
    low: str | None,
    high: str | None,
    average: str | None,
) -> dict[str, Any]:
    return {
        "category_id": id,
        "name": name,
        "product_count": count,
        "in_stock_count": in_stock,
        "min_price": low,
        "max_price": high,
        "avg_price": average,
        "total_stock": stock,
    }


# Active products only: the discontinued road runner counts nowhere, the boot counts
# under Trail (where it moved), not Boots.
CATEGORY_STATS: dict[str, dict[str, Any]] = {
    # runner 17.50 (3), boot 120.55 (5), clog 24.99 (0): (1750 + 12055 + 2499) / 3 =
    # 5434.67 cents → 54.35
    SHOES: _stats(SHOES, "Footwear", 3, 2, 8, "17.50", "120.55", "54.35"),
    # runner and boot: (1750 + 12055) / 2 = 6902.5 cents, half up → 69.03
    RUNNING: _stats(RUNNING, "Running", 2, 2, 8, "17.50", "120.55", "69.03"),
    TRAIL: _stats(TRAIL, "Trail", 2, 2, 8, "17.50", "120.55", "69.03"),
    BOOTS: _stats(BOOTS, "Boots", 1, 0, 0, "24.99", "24.99", "24.99"),
    # The tote's first price (5.00) left with the change: min and max are both 6.10.
    BAGS: _stats(BAGS, "Luggage", 1, 1, 4, "6.10", "6.10", "6.10"),
    EMPTY: _stats(EMPTY, "Empty", 0, 0, 0, None, None, None),
}


def _node(
    id: str, name: str, slug: str, parent: str | None, count: int, *children: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "slug": slug,
        "parent_id": parent,
        "product_count": count,
        "children": list(children),
    }


# Siblings sorted by name; counts are of the subtree's active products.
CATEGORY_TREE: list[dict[str, Any]] = [
    _node(EMPTY, "Empty", "empty", None, 0),
    _node(
        SHOES,
        "Footwear",
        "footwear",
        None,
        3,
        _node(BOOTS, "Boots", "boots", SHOES, 1),
        _node(RUNNING, "Running", "running", SHOES, 2, _node(TRAIL, "Trail", "trail", RUNNING, 2)),
    ),
    _node(BAGS, "Luggage", "luggage", None, 1),
]


def _cart_line(product_id: str, name: str, unit: str, quantity: int, total: str) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "name": name,
        "unit_price": unit,
        "quantity": quantity,
        "line_total": total,
    }


def cart(
    id: str, owner: str, lines: list[dict[str, Any]] | None = None, subtotal: str = "0.00"
) -> dict[str, Any]:
    """A cart document; an empty cart has no currency."""
    return {
        "id": id,
        "owner": owner,
        "lines": lines or [],
        "subtotal": subtotal,
        "currency": "USD" if lines else None,
    }


# Alice's cart at today's names and prices, lines by name: 3 * 17.50 + 2 * 6.10 = 64.70.
ALICE_LINES = [
    _cart_line(RUNNER, "All-terrain runner", "17.50", 3, "52.50"),
    _cart_line(TOTE, "Canvas tote", "6.10", 2, "12.20"),
]


def utc_millis(seconds: float) -> str:
    """An order's time as the API writes it: ISO 8601, UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _order_line(
    product_id: str, sku: str, name: str, quantity: int, unit: str, total: str
) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "sku": sku,
        "name": name,
        "quantity": quantity,
        "unit_price": unit,
        "line_total": total,
    }


def orders(written: Written) -> dict[str, dict[str, Any]]:
    """Every order as placed: names and prices of checkout time, lines by product id."""

    def order(
        id: str, customer: str, status: str, total: str, *lines: Any, contact: Any = None
    ) -> dict[str, Any]:
        return {
            "id": id,
            "customer": customer,
            "status": status,
            "lines": list(lines),
            "total": total,
            "currency": "USD",
            "placed_at": utc_millis(written.placed_at(id)),
            "contact": contact,
        }

    return {
        DAVE_ORDER: order(
            DAVE_ORDER,
            "dave",
            "placed",
            "246.10",  # 2 * 120.55 + 5.00 (the tote before its re-pricing)
            _order_line(BOOT, "HB-1", "Mountain boot", 2, "120.55", "241.10"),
            _order_line(TOTE, "CT-1", "Canvas tote", 1, "5.00", "5.00"),
            contact={"name": "Dave Doe", "email": "dave@example.com"},
        ),
        ERIN_ORDER: order(
            ERIN_ORDER,
            "erin",
            "cancelled",
            "17.50",
            _order_line(RUNNER, "TR-1", "Trail runner", 1, "17.50", "17.50"),
        ),
        CAROL_ORDER: order(
            CAROL_ORDER,
            "carol",
            "placed",
            "6.10",
            _order_line(TOTE, "CT-1", "Canvas tote", 1, "6.10", "6.10"),
        ),
    }


# -- search -----------------------------------------------------------------------------


def _summary(id: str) -> dict[str, Any]:
    doc = PRODUCTS[id]
    return {
        "id": id,
        "sku": doc["sku"],
        "name": doc["name"],
        "price": doc["price"],
        "currency": doc["currency"],
        "in_stock": doc["in_stock"],
        "stock": doc["stock"],
        "category": {"id": doc["category"]["id"], "name": doc["category"]["name"]},
        "status": "active",
    }


# What a search shows of each product it can find (the road runner is discontinued).
SUMMARIES = {id: _summary(id) for id in (RUNNER, BOOT, TOTE, CLOG)}

# Price facet buckets: [0, 10), [10, 25), [25, 50), [50, 100), [100, 250), …
UNDER_10 = ("0.00", "10.00")
UNDER_25 = ("10.00", "25.00")
UNDER_250 = ("100.00", "250.00")


def facets(
    categories: list[tuple[str, str, int]], prices: list[tuple[tuple[str, str], int]]
) -> dict[str, Any]:
    """Facets from (child id, name, count), most first, and (bucket, count) rows."""
    return {
        "category": [{"id": id, "name": name, "count": n} for id, name, n in categories],
        "price": [{"min": low, "max": high, "count": n} for (low, high), n in prices],
    }


@dataclass(frozen=True)
class Search:
    """A search, the ids on each of its pages (followed by cursor), its total and facets."""

    query: dict[str, Any]
    pages: list[list[str]]
    facets: dict[str, Any]

    @property
    def total(self) -> int:
        """Every match: the products on all pages."""
        return sum(len(page) for page in self.pages)


EVERYTHING_FACETS = facets(
    [(SHOES, "Footwear", 3), (BAGS, "Luggage", 1)],
    [(UNDER_10, 1), (UNDER_25, 2), (UNDER_250, 1)],
)


def finds_nothing(query: dict[str, Any]) -> Search:
    """A search with one empty page, no total and no facets."""
    return Search(query, [[]], facets([], []))


# Active products by price: tote 6.10, runner 17.50, clog 24.99, boot 120.55; by age
# (newest first): clog, tote, boot, runner. The road runner is discontinued: never found.
SEARCHES: dict[str, Search] = {
    "everything-by-price-two-a-page": Search(
        {"sort": "price_asc", "limit": 2}, [[TOTE, RUNNER], [CLOG, BOOT]], EVERYTHING_FACETS
    ),
    "everything-dearest-first": Search(
        {"sort": "price_desc"}, [[BOOT, CLOG, RUNNER, TOTE]], EVERYTHING_FACETS
    ),
    "everything-newest-first-three-a-page": Search(
        {"sort": "newest", "limit": 3}, [[CLOG, TOTE, BOOT], [RUNNER]], EVERYTHING_FACETS
    ),
    "relevance-without-text-is-newest-first": Search(
        {"sort": "relevance"}, [[CLOG, TOTE, BOOT, RUNNER]], EVERYTHING_FACETS
    ),
    "a-root-category-subtree": Search(
        {"category": SHOES, "sort": "price_asc"},
        [[RUNNER, CLOG, BOOT]],
        facets([(RUNNING, "Running", 2), (BOOTS, "Boots", 1)], [(UNDER_25, 2), (UNDER_250, 1)]),
    ),
    "an-inner-category-subtree": Search(
        {"category": RUNNING, "sort": "price_desc", "limit": 1},
        [[BOOT], [RUNNER]],
        facets([(TRAIL, "Trail", 2)], [(UNDER_25, 1), (UNDER_250, 1)]),
    ),
    "a-category-a-product-moved-out-of": Search(
        {"category": BOOTS}, [[CLOG]], facets([], [(UNDER_25, 1)])
    ),
    "an-empty-category": finds_nothing({"category": EMPTY}),
    "an-unknown-category": finds_nothing({"category": UNKNOWN}),
    "in-stock": Search(
        {"in_stock": True, "sort": "price_asc"},
        [[TOTE, RUNNER, BOOT]],
        facets(
            [(SHOES, "Footwear", 2), (BAGS, "Luggage", 1)],
            [(UNDER_10, 1), (UNDER_25, 1), (UNDER_250, 1)],
        ),
    ),
    "out-of-stock": Search(
        {"in_stock": False}, [[CLOG]], facets([(SHOES, "Footwear", 1)], [(UNDER_25, 1)])
    ),
    "a-price-range-with-both-ends-included": Search(
        {"min_price": Decimal("17.50"), "max_price": Decimal("24.99"), "sort": "price_asc"},
        [[RUNNER, CLOG]],
        facets([(SHOES, "Footwear", 2)], [(UNDER_25, 2)]),
    ),
    "text-in-a-renamed-name-not-a-discontinued-one": Search(
        {"q": "runner"}, [[RUNNER]], facets([(SHOES, "Footwear", 1)], [(UNDER_25, 1)])
    ),
    "text-in-the-renamed-category-path": Search(
        {"q": "footwear", "sort": "price_desc"},
        [[BOOT, CLOG, RUNNER]],
        facets([(SHOES, "Footwear", 3)], [(UNDER_25, 2), (UNDER_250, 1)]),
    ),
    "text-of-a-category-name-before-its-rename": finds_nothing({"q": "shoes"}),
    "a-word-prefix-and-a-second-word": Search(
        {"q": "Moun BOOT"}, [[BOOT]], facets([(SHOES, "Footwear", 1)], [(UNDER_250, 1)])
    ),
    "a-sku": Search({"q": "CT-1"}, [[TOTE]], facets([(BAGS, "Luggage", 1)], [(UNDER_10, 1)])),
    # "run" begins "runner" (the runner's name) and "Running" (the path of Trail, where
    # the boot moved); the road runner is discontinued, the clog's path has no Running.
    "a-prefix-in-a-subtree-in-stock-cheapest-first-a-page-each": Search(
        {"q": "run", "category": SHOES, "in_stock": True, "sort": "price_asc", "limit": 1},
        [[RUNNER], [BOOT]],
        facets([(RUNNING, "Running", 2)], [(UNDER_25, 1), (UNDER_250, 1)]),
    ),
    "a-prefix-in-the-category-a-product-moved-into": Search(
        {"q": "moun", "category": TRAIL, "sort": "price_desc"},
        [[BOOT]],
        facets([], [(UNDER_250, 1)]),
    ),
    "text-of-a-product-in-the-category-it-moved-out-of": finds_nothing(
        {"q": "mountain", "category": BOOTS}
    ),
    "text-with-stock-category-and-price-filters": Search(
        {
            "q": "footwear",
            "category": RUNNING,
            "in_stock": True,
            "max_price": Decimal("100"),
            "sort": "price_desc",
        },
        [[RUNNER]],
        facets([(TRAIL, "Trail", 1)], [(UNDER_25, 1)]),
    ),
}


# Typos (the fallback when full text finds nothing; the level-1 search has none): a term
# of three characters or more matches a product whose name and category path words hold
# an extent like it (trigram word similarity at least 0.5); relevance ranks by the
# summed similarity. Words: runner "all terrain runner footwear running trail", boot
# "mountain boot footwear running trail", tote "canvas tote luggage", clog "garden clog
# footwear boots".
TYPO_SEARCHES: dict[str, Search] = {
    # "runer" is 0.625 like "runner" (the runner's name) and 0.5 like "running" (both
    # paths): the runner ranks first.
    "a-typo-ranked-by-similarity-a-page-each": Search(
        {"q": "runer", "limit": 1},
        [[RUNNER], [BOOT]],
        facets([(SHOES, "Footwear", 2)], [(UNDER_25, 1), (UNDER_250, 1)]),
    ),
    "a-typo-in-a-name": Search(
        {"q": "mountian"}, [[BOOT]], facets([(SHOES, "Footwear", 1)], [(UNDER_250, 1)])
    ),
    "a-typo-in-a-category-path-dearest-first": Search(
        {"q": "footwaer", "sort": "price_desc"},
        [[BOOT, CLOG, RUNNER]],
        facets([(SHOES, "Footwear", 3)], [(UNDER_25, 2), (UNDER_250, 1)]),
    ),
    "a-typo-and-an-exact-word": Search(
        {"q": "canvs tote"}, [[TOTE]], facets([(BAGS, "Luggage", 1)], [(UNDER_10, 1)])
    ),
    "a-typo-and-a-short-prefix-out-of-stock": Search(
        {"q": "gardn cl", "in_stock": False},
        [[CLOG]],
        facets([(SHOES, "Footwear", 1)], [(UNDER_25, 1)]),
    ),
    "a-typo-and-a-short-prefix-in-stock": finds_nothing({"q": "gardn cl", "in_stock": True}),
    "a-typo-below-a-price": Search(
        {"q": "runer", "max_price": Decimal("100"), "category": RUNNING},
        [[RUNNER]],
        facets([(TRAIL, "Trail", 1)], [(UNDER_25, 1)]),
    ),
    "a-typo-outside-the-category": finds_nothing({"q": "runer", "category": BAGS}),
    "too-far-from-any-word": finds_nothing({"q": "trial"}),
    "a-short-typo-is-not-tolerated": finds_nothing({"q": "bx"}),
}

# -- analytics --------------------------------------------------------------------------


def sales_days(written: Written) -> list[dict[str, Any]]:
    """`SalesAnalytics` by day: dave's order (2 boots, a tote: 246.10) and carol's (a
    tote: 6.10); erin's is cancelled. Both usually fall on one UTC day."""
    days: dict[date, list[tuple[int, str]]] = {}
    for order, units, revenue in ((DAVE_ORDER, 3, "246.10"), (CAROL_ORDER, 1, "6.10")):
        days.setdefault(sales_day(written, order), []).append((units, revenue))
    if len(days) == 1:
        (day,) = days
        return [_sales_row(day.isoformat(), day.isoformat(), 2, 4, "252.20")]
    return [
        _sales_row(day.isoformat(), day.isoformat(), 1, units, revenue)
        for day, [(units, revenue)] in sorted(days.items())
    ]


def sales_day(written: Written, order_id: str) -> date:
    return datetime.fromtimestamp(written.placed_at(order_id), UTC).date()


def _sales_row(key: str, name: str, orders: int, units: int, revenue: str) -> dict[str, Any]:
    return {"key": key, "name": name, "orders": orders, "units": units, "revenue": revenue}


# By category at checkout (the boot had moved to Trail), named as the category is named
# now; most revenue first.
SALES_BY_CATEGORY = [
    _sales_row(TRAIL, "Trail", 1, 2, "241.10"),
    _sales_row(BAGS, "Luggage", 2, 2, "11.10"),  # 5.00 + 6.10
]
SALES_BY_PRODUCT = [
    _sales_row(BOOT, "Mountain boot", 1, 2, "241.10"),
    _sales_row(TOTE, "Canvas tote", 2, 2, "11.10"),
]


def price_history(written: Written, product_id: str, prices: list[str]) -> dict[str, Any]:
    """The product's prices, oldest first, each at the UTC time its event was recorded."""
    times = written.price_times(product_id)
    assert len(times) == len(prices), "the history has one price event per expected price"
    return {
        "product_id": product_id,
        "points": [
            {"at": datetime.fromtimestamp(at, UTC).isoformat(), "price": price}
            for at, price in zip(times, prices, strict=True)
        ],
    }
