"""Price changes and stock adjustments answered by the hot write path
(`catalog.api.hot_commands`) exactly as the documented routes answer them; any request
the route would answer otherwise is left to the route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from catalog.api.app import create_app
from catalog.api.hot_commands import HotCommands
from catalog.domain import commands as c
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.tokens.verifier import TokenVerifier

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOT = {**AUTH, "Content-Type": "application/json"}
# A content type the route parses as JSON and the hot path leaves to it.
ROUTE = {**AUTH, "Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
async def product(catalog: EmbeddedRuntime) -> str:
    bus = catalog.command_bus
    category = (await bus.dispatch(c.CreateCategory(name="Lamps"))).id
    created = c.CreateProduct(
        sku="L-1", name="Brass lamp", category_id=category, price=Decimal("12.50")
    )
    return (await bus.dispatch(created)).id


@pytest.fixture
async def client(catalog: EmbeddedRuntime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(catalog, TokenVerifier(TOKEN))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        yield client


async def _never(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError(f"{scope['method']} {scope['path']} reached the router")


@pytest.fixture
async def hot_only(catalog: EmbeddedRuntime) -> AsyncIterator[httpx.AsyncClient]:
    """The app with nothing behind the hot paths: a request they leave fails."""
    app = create_app(catalog, TokenVerifier(TOKEN))
    layer: Any = app.front
    while not isinstance(layer, HotCommands):  # past the layers in front of it
        layer = layer.app
    layer.app = _never
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        yield client


def _same_answer(hot: httpx.Response, route: httpx.Response) -> None:
    assert hot.status_code == route.status_code
    assert hot.content == route.content
    for header in ("content-type", "www-authenticate", "retry-after", "etag"):
        assert hot.headers.get(header) == route.headers.get(header), header


async def test_commands_are_answered_without_the_router(
    hot_only: httpx.AsyncClient, product: str, catalog: EmbeddedRuntime
) -> None:
    price = await hot_only.put(f"/products/{product}/price", json={"price": "9.99"}, headers=AUTH)
    assert price.status_code == 200, price.text
    body = price.json()
    assert body == {"id": product, "version": body["version"]}
    assert price.headers.get_list("set-cookie") == [
        f"tandem_rv={body['version']}; HttpOnly; Path=/; SameSite=lax",
        f"tandem_log={catalog.sessions.identity}; HttpOnly; Path=/; SameSite=lax",
    ]
    stock = await hot_only.post(
        f"/products/{product}/stock-adjustments",
        json={"delta": 5, "reason": "delivery"},
        headers={**AUTH, "If-Match": '"2"'},
    )
    assert stock.status_code == 200, stock.text
    assert stock.json()["version"] > body["version"]
    types = [e.type for e in await _events(catalog) if e.aggregate_id == product]
    assert types == ["ProductCreated", "PriceChanged", "StockAdjusted"]


async def test_a_retry_with_the_same_key_answers_the_first_result(
    hot_only: httpx.AsyncClient, product: str, catalog: EmbeddedRuntime
) -> None:
    headers = {**AUTH, "Idempotency-Key": "price-1"}
    first = await hot_only.put(f"/products/{product}/price", json={"price": "3"}, headers=headers)
    again = await hot_only.put(f"/products/{product}/price", json={"price": "3"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    other = await hot_only.put(f"/products/{product}/price", json={"price": "4"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["type"].endswith("idempotency-key-reuse")
    assert [e.type for e in await _events(catalog)].count("PriceChanged") == 1


UNKNOWN = "00000000-0000-4000-8000-000000000000"
CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("no token", "price", {}, b'{"price": "1"}'),
    ("another token", "price", {"Authorization": "Bearer nope"}, b'{"price": "1"}'),
    ("not JSON", "price", AUTH, b'{"price": '),
    ("no body", "price", AUTH, b""),
    ("not an object", "price", AUTH, b'["1"]'),
    ("an unknown field", "price", AUTH, b'{"price": "1", "colour": "red"}'),
    ("a price that is no amount", "price", AUTH, b'{"price": "1.234"}'),
    ("a delta as text", "stock", AUTH, b'{"delta": "5", "reason": "r"}'),
    ("a malformed If-Match", "price", {**AUTH, "If-Match": "two"}, b'{"price": "1"}'),
    ("a stale If-Match", "stock", {**AUTH, "If-Match": '"7"'}, b'{"delta": 1, "reason": "r"}'),
    ("a key too long", "price", {**AUTH, "Idempotency-Key": "k" * 201}, b'{"price": "1"}'),
    ("more stock taken than held", "stock", AUTH, b'{"delta": -1, "reason": "r"}'),
    ("an unknown product", "unknown", AUTH, b'{"price": "1"}'),
]


@pytest.mark.parametrize(("case", "route", "headers", "body"), CASES, ids=[c[0] for c in CASES])
async def test_a_refused_command_gets_the_routes_problem(
    client: httpx.AsyncClient,
    product: str,
    catalog: EmbeddedRuntime,
    case: str,
    route: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    method, path = {
        "price": ("PUT", f"/products/{product}/price"),
        "stock": ("POST", f"/products/{product}/stock-adjustments"),
        "unknown": ("PUT", f"/products/{UNKNOWN}/price"),
    }[route]
    before = await _events(catalog)
    hot = await client.request(
        method, path, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    documented = await client.request(
        method, path, content=body, headers={**headers, "Content-Type": ROUTE["Content-Type"]}
    )
    assert 400 <= hot.status_code < 500, hot.text
    _same_answer(hot, documented)
    assert await _events(catalog) == before


async def _events(catalog: EmbeddedRuntime) -> list[Any]:
    return list(await catalog.log_reader.read_after(0, 1000))


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient, product: str
) -> None:
    big = b'{"price": "1", "pad": "' + b"x" * 70_000 + b'"}'
    hot = await client.put(f"/products/{product}/price", content=big, headers=HOT)
    assert hot.status_code == 413
    assert hot.json()["type"].endswith("body-too-large")


async def test_a_content_length_too_long_to_read_is_a_problem(
    client: httpx.AsyncClient, product: str
) -> None:
    """ASCII digits past the length `int()` reads (4,300) are refused like any length
    over the limit, not answered 500."""
    hot = await client.put(
        f"/products/{product}/price",
        content=b'{"price": "1"}',
        headers={**HOT, "Content-Length": "1" * 5000},
    )
    assert hot.status_code == 413, hot.text
