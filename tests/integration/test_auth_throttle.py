"""Failed authentications held back per client address, through the whole app: a
failure counts once whichever path (hot or routed) answers it, an address past the
limit is answered 429 without its token being checked, and other addresses and public
reads go on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.api.app import create_app
from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.settings import Settings
from catalog.tokens.verifier import TokenVerifier

TOKEN = "admin-token-for-the-throttle-tests"
LIMIT = 3
FORGED = {"Authorization": "Bearer tdm_" + "F" * 43}
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[tuple[httpx.ASGITransport, str]]:
    catalog = build_embedded(Settings(data_dir=tmp_path, auth_failures=LIMIT))
    await catalog.start()
    try:
        bus = catalog.command_bus
        category = (await bus.dispatch(c.CreateCategory(name="Locks"))).id
        made = c.CreateProduct(sku="K-1", name="Lock", category_id=category, price=Decimal("3"))
        product = (await bus.dispatch(made)).id
        assert await catalog.wait_until_caught_up()
        app = create_app(catalog, TokenVerifier(TOKEN))
        app.state.tokens.attach(catalog.tokens)
        yield httpx.ASGITransport(app=app, client=("192.0.2.7", 40000)), product
    finally:
        await catalog.stop()
        catalog.close()


def _client(transport: httpx.ASGITransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://shop")


async def _write(
    client: httpx.AsyncClient, path: str, product: str, headers: dict[str, str]
) -> httpx.Response:
    """A write the hot command path answers (`hot`), or one only the router does."""
    if path == "hot":
        price = {"price": "4.00"}
        return await client.put(f"/products/{product}/price", json=price, headers=headers)
    return await client.post("/categories", json={"name": "x"}, headers=headers)


@pytest.mark.parametrize("path", ["hot", "routed"])
async def test_each_failure_counts_once_and_then_the_address_is_held_back(
    shop: tuple[httpx.ASGITransport, str], path: str
) -> None:
    transport, product = shop
    async with _client(transport) as client:
        for _ in range(LIMIT):
            refused = await _write(client, path, product, FORGED)
            assert refused.status_code == 401, refused.text
        held = await client.put(f"/products/{product}/price", json={"price": "5.00"}, headers=ADMIN)
        assert held.status_code == 429, held.text
        assert held.headers["content-type"] == "application/problem+json"
        assert 1 <= int(held.headers["retry-after"]) <= 60
        assert held.json()["status"] == 429
        assert (await client.get(f"/products/{product}")).status_code == 200


async def test_another_address_is_not_held_back(shop: tuple[httpx.ASGITransport, str]) -> None:
    transport, product = shop
    async with _client(transport) as client:
        for _ in range(LIMIT + 2):
            await client.post("/categories", json={"name": "x"}, headers=FORGED)
        assert (
            await client.post("/categories", json={"name": "y"}, headers=ADMIN)
        ).status_code == 429
    other = httpx.ASGITransport(app=transport.app, client=("198.51.100.4", 40000))
    async with _client(other) as client:
        answer = await client.put(
            f"/products/{product}/price", json={"price": "6.00"}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text


class _Unreachable:
    """A token store whose database cannot be reached."""

    async def find(self, digest: str) -> None:
        raise ConnectionRefusedError("the write database is down")


@pytest.mark.parametrize("path", ["hot", "routed"])
async def test_a_token_store_outage_is_a_503_problem_on_every_path(
    shop: tuple[httpx.ASGITransport, str], path: str
) -> None:
    transport, product = shop
    app: Any = transport.app
    app.state.tokens.attach(_Unreachable())
    customer = {"Authorization": "Bearer tdm_" + "C" * 43}
    async with _client(transport) as client:
        answer = await _write(client, path, product, customer)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"]
