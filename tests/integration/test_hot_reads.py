"""Plain searches and category stats answered by the hot read path (`catalog.api.hot`)
exactly as the documented routes answer them; any other search is left to the route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest

from catalog.api.app import create_app
from catalog.api.hot import _plain_search
from catalog.domain import commands as c
from catalog.read_models.queries import SearchProducts
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.tokens.verifier import TokenVerifier

CATEGORY = "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"


# A parameter the route ignores and the hot path does not know: a search with it is the
# same search, answered by the route.
TO_THE_ROUTE = {"via": "route"}


@pytest.fixture
async def shop(catalog: EmbeddedRuntime) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app over a catalog of a few lamps."""
    bus = catalog.command_bus
    lamps = (await bus.dispatch(c.CreateCategory(name="Lamps", id=CATEGORY))).id
    desk = (await bus.dispatch(c.CreateCategory(name="Desk", parent_id=lamps))).id
    for i, (name, category) in enumerate(
        [("Brass lamp", desk), ("Harbor lamp", lamps), ("Harbor light", desk), ("Étoile", lamps)]
    ):
        created = c.CreateProduct(
            sku=f"L-{i}",
            name=name,
            category_id=category,
            price=Decimal(f"{12 + i}.50"),
            initial_stock=i % 2,
        )
        await bus.dispatch(created)
    assert await catalog.wait_until_caught_up()
    app = create_app(catalog, TokenVerifier("admin-token-for-tests"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        yield client


PLAIN = [
    {},
    {"q": "lamp"},
    {"q": "harbor", "category": CATEGORY, "in_stock": "true", "sort": "price_asc"},
    {"q": "étoile", "in_stock": "false", "consistency": "eventual"},
    {"category": CATEGORY, "sort": "newest", "limit": "2"},
    {"q": "lamp", "sort": "price_desc", "limit": "100", "min_version": "3", "wait_ms": "50"},
]


@pytest.mark.parametrize("params", PLAIN)
async def test_a_plain_search_is_answered_as_the_route_answers_it(
    shop: httpx.AsyncClient, params: dict[str, str]
) -> None:
    assert _plain_search(urlencode(params).encode()) is not None
    assert _plain_search(urlencode({**params, **TO_THE_ROUTE}).encode()) is None
    hot = await shop.get("/products", params=params)
    documented = await shop.get("/products", params={**params, **TO_THE_ROUTE})
    assert hot.status_code == documented.status_code == 200
    assert hot.content == documented.content
    for header in ("etag", "x-read-version", "content-type", "cache-control"):
        assert hot.headers[header] == documented.headers[header]


async def test_a_plain_search_the_rules_refuse_gets_the_routes_problem(
    shop: httpx.AsyncClient,
) -> None:
    words = " ".join(f"w{i}" for i in range(17))  # more words than a search may have
    hot = await shop.get("/products", params={"q": words})
    routed = await shop.get("/products", params={"q": words, **TO_THE_ROUTE})
    assert hot.status_code == routed.status_code == 422
    assert hot.json() == routed.json()
    assert hot.json()["errors"] == [{"loc": ["q"], "msg": "must have at most 16 words"}]
    assert hot.headers["content-type"] == routed.headers["content-type"]


@pytest.mark.parametrize(
    "query",
    [
        "min_price=1",
        "max_price=2",
        "cursor=abc",
        "q=a&q=b",
        "q=",
        "q=" + "x" * 201,
        "category=" + CATEGORY.upper(),
        "category=" + CATEGORY.replace("-", ""),
        "category=lamps",
        "in_stock=1",
        "in_stock=True",
        "sort=cheapest",
        "limit=0",
        "limit=101",
        "limit=020",
        "colour=red",
    ],
)
def test_any_other_search_is_left_to_the_route(query: str) -> None:
    assert _plain_search(query.encode()) is None


def test_a_plain_search_is_the_query_the_route_builds() -> None:
    found = _plain_search(b"q=harbor+lamp&category=" + CATEGORY.encode() + b"&in_stock=true")
    assert found == SearchProducts(q="harbor lamp", category=CATEGORY, in_stock=True)
    assert _plain_search(b"sort=newest&limit=5&consistency=session") == SearchProducts(
        sort="newest", limit=5
    )


async def test_stats_and_their_entity_tags_are_answered_as_the_route_answers_them(
    shop: httpx.AsyncClient,
) -> None:
    hot = await shop.get(f"/categories/{CATEGORY}/stats")
    routed = await shop.get(f"/categories/{CATEGORY.upper()}/stats")  # not canonical: route
    assert hot.status_code == routed.status_code == 200
    assert hot.content == routed.content
    for header in ("etag", "x-read-version", "content-type", "cache-control", "content-length"):
        assert hot.headers[header] == routed.headers[header]
    tag = {"If-None-Match": f'"other", {hot.headers["etag"]}'}
    unchanged = await shop.get(f"/categories/{CATEGORY}/stats", headers=tag)
    routed_unchanged = await shop.get(f"/categories/{CATEGORY.upper()}/stats", headers=tag)
    assert unchanged.status_code == routed_unchanged.status_code == 304
    assert unchanged.content == routed_unchanged.content == b""
    # The hot path sends nosniff alone of the security headers (`catalog.api.security`).
    behind = {"content-security-policy", "referrer-policy"}
    routed_headers = [item for item in routed_unchanged.headers.items() if item[0] not in behind]
    assert sorted(unchanged.headers.items()) == sorted(routed_headers)
