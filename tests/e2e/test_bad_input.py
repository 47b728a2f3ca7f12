"""Every bad input gets a 4xx problem response and writes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, deploy
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def setup(
    profile: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployment, dict[str, str], str, str]]:
    data: Path = tmp_path_factory.mktemp("bad") / "data"
    data.mkdir()
    server = deploy(profile, data)
    customer = server.cli("token", "create", "--subject", "alice", "--scopes", "orders")
    server.start()
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        category = client.post("/categories", json={"name": "Bad input"}).json()["id"]
        product = client.post(
            "/products",
            json={
                "sku": "BAD-1",
                "name": "Sturdy",
                "category_id": category,
                "price": "5.00",
                "initial_stock": 1,
            },
        ).json()["id"]
    yield server, {"Authorization": f"Bearer {customer}"}, category, product
    server.stop()


def _head(client: httpx.Client) -> int:
    return int(client.get("/status").json()["head"])


def _settled_head(client: httpx.Client) -> int:
    """The head once every event committed so far is in it. On PostgreSQL the head is
    the newest position below the oldest open transaction, so a transaction open at
    the moment (any session's) can hold it below events committed earlier. A write of
    our own settles it: positions follow transaction ids, so every event committed
    before that write has a lower one, and once the head has reached the write's
    position, it can move on only by a new event."""
    marker = client.post("/categories", json={"name": "Head marker"})
    assert marker.status_code == 201, marker.text
    version = int(marker.json()["version"])
    deadline = time.monotonic() + 10
    while (head := _head(client)) < version:
        assert time.monotonic() < deadline, (head, version)
        time.sleep(0.05)
    return head


def _assert_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == response.status_code
    assert "Traceback" not in response.text


BIG = "x" * (70 * 1024)


def bad_writes(
    category: str, product: str
) -> list[tuple[str, str, dict[str, Any] | str | None, dict[str, str], tuple[int, ...]]]:
    cart = str(uuid.uuid4())
    p = "/products"
    return [
        ("POST", "/categories", BIG, {"content-type": "application/json"}, (413,)),
        ("POST", "/categories", "{not json", {"content-type": "application/json"}, (400, 422)),
        ("POST", "/categories", {"name": "ok", "colour": "red"}, {}, (422,)),
        ("POST", "/categories", {"name": ""}, {}, (422,)),
        ("POST", "/categories", {"name": "y" * 500}, {}, (422,)),
        ("POST", "/categories", {"name": "child", "parent_id": "not-a-uuid"}, {}, (422,)),
        ("POST", "/categories", {"name": "orphan", "parent_id": str(uuid.uuid4())}, {}, (404,)),
        ("POST", "/categories", {"name": 12}, {}, (422,)),
        (
            "POST",
            p,
            {"sku": "N1", "name": "n", "category_id": category, "price": "-1.00"},
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {"sku": "N2", "name": "n", "category_id": category, "price": "1.999"},
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {"sku": "N3", "name": "n", "category_id": category, "price": 19.99},
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {"sku": "N4", "name": "n", "category_id": category, "price": "NaN"},
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {"sku": "N5", "name": "n", "category_id": category, "price": "1e9"},
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {"sku": "BAD-1", "name": "dup", "category_id": category, "price": "1.00"},
            {},
            (409,),
        ),
        (
            "POST",
            p,
            {"sku": "N6", "name": "n", "category_id": str(uuid.uuid4()), "price": "1.00"},
            {},
            (404,),
        ),
        (
            "POST",
            p,
            {
                "sku": "N7",
                "name": "n",
                "category_id": category,
                "price": "1.00",
                "attributes": {f"k{i}": "v" for i in range(60)},
            },
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {
                "sku": "N8",
                "name": "n",
                "category_id": category,
                "price": "1.00",
                "attributes": {"k": "v" * 300},
            },
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {
                "sku": "N9",
                "name": "n",
                "category_id": category,
                "price": "1.00",
                "initial_stock": -1,
            },
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {
                "sku": "N10",
                "name": "n",
                "category_id": category,
                "price": "1.00",
                "currency": "usd",
            },
            {},
            (422,),
        ),
        (
            "POST",
            p,
            {"sku": "N11", "name": "bad\u0000name", "category_id": category, "price": "1.00"},
            {},
            (422,),
        ),
        ("PATCH", f"{p}/{product}", {}, {}, (422,)),
        ("PATCH", f"{p}/{product}", {"name": "x", "sku": "changed"}, {}, (422,)),
        ("PUT", f"{p}/{product}/price", {"price": "abc"}, {}, (422,)),
        ("PUT", f"{p}/{product}/price", {"price": "2.00"}, {"If-Match": "nonsense"}, (400,)),
        ("PUT", f"{p}/{product}/price", {"price": "2.00"}, {"If-Match": '"99"'}, (409,)),
        ("PUT", f"{p}/not-a-uuid/price", {"price": "2.00"}, {}, (422,)),
        ("PUT", f"{p}/{uuid.uuid4()}/price", {"price": "2.00"}, {}, (404,)),
        (
            "POST",
            f"{p}/{product}/stock-adjustments",
            {"delta": -5, "reason": "too many"},
            {},
            (409,),
        ),
        ("POST", f"{p}/{product}/stock-adjustments", {"delta": 0, "reason": "zero"}, {}, (422,)),
        (
            "POST",
            f"{p}/{product}/stock-adjustments",
            {"delta": "5", "reason": "string"},
            {},
            (422,),
        ),
        (
            "POST",
            f"{p}/{product}/stock-adjustments",
            {"delta": 10**12, "reason": "huge"},
            {},
            (422,),
        ),
        ("POST", f"{p}/{product}/stock-adjustments", {"delta": 1}, {}, (422,)),
        ("POST", f"/carts/{cart}/items", {"product_id": product, "quantity": 0}, {}, (422,)),
        ("POST", f"/carts/{cart}/items", {"product_id": product, "quantity": -3}, {}, (422,)),
        ("POST", f"/carts/{cart}/items", {"product_id": product, "quantity": 100000}, {}, (422,)),
        ("POST", f"/carts/{cart}/items", {"product_id": product, "quantity": 2}, {}, (409,)),
        ("POST", f"/carts/{cart}/checkout", None, {}, (404,)),
        ("DELETE", f"/carts/{cart}/items/{product}", None, {}, (404,)),
        ("POST", f"/orders/{uuid.uuid4()}/cancel", None, {}, (404,)),
        ("POST", "/categories", {"name": "k"}, {"Idempotency-Key": "k" * 201}, (400,)),
    ]


def test_bad_writes_are_4xx_problems_and_write_nothing(
    setup: tuple[Deployment, dict[str, str], str, str],
) -> None:
    server, _customer, category, product = setup
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        before = _settled_head(client)
        for method, path, body, headers, statuses in bad_writes(category, product):
            if isinstance(body, str):
                response = client.request(method, path, content=body, headers=headers)
            else:
                response = client.request(method, path, json=body, headers=headers)
            _assert_problem(response, *statuses)
        assert _head(client) == before, "a rejected command changed the event log"
        detail = client.get(f"/products/{product}").json()
        assert detail["price"] == "5.00"
        assert detail["stock"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"min_price": "-1"},
        {"min_price": "abc"},
        {"sort": "random"},
        {"cursor": "garbage!!"},
        {"category": "nope"},
        {"min_version": "-1"},
        {"min_version": str(2**60)},
        {"wait_ms": "20000"},
        {"consistency": "linearizable"},
        {"in_stock": "maybe"},
        {"q": "x" * 1000},
    ],
)
def test_bad_search_parameters_are_4xx(
    setup: tuple[Deployment, dict[str, str], str, str], params: dict[str, Any]
) -> None:
    server = setup[0]
    response = httpx.get(f"{server.url}/products", params=params)
    _assert_problem(response, 400, 422)


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "*",
        "NEAR(",
        "AND OR NOT",
        "^",
        "'; DROP TABLE products; --",
        "a:b",
        "(((",
        "\u00e9t\u00e9",
        "-",
        "🙂",
    ],
)
def test_search_syntax_never_fails_the_server(
    setup: tuple[Deployment, dict[str, str], str, str], q: str
) -> None:
    server = setup[0]
    response = httpx.get(f"{server.url}/products", params={"q": q})
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code != 200:
        _assert_problem(response, 400, 422)


def test_scopes_and_ownership(setup: tuple[Deployment, dict[str, str], str, str]) -> None:
    server, customer, category, product = setup
    with httpx.Client(base_url=server.url) as client:
        before = _settled_head(httpx.Client(base_url=server.url, headers=ADMIN))
        _assert_problem(client.post("/categories", json={"name": "nope"}, headers=customer), 403)
        _assert_problem(
            client.put(f"/products/{product}/price", json={"price": "1.00"}, headers=customer), 403
        )
        assert _head(client) == before
        cart = str(uuid.uuid4())
        mine = client.post(
            f"/carts/{cart}/items", json={"product_id": product, "quantity": 1}, headers=customer
        )
        assert mine.status_code == 200, mine.text
        assert client.get(f"/carts/{cart}", headers=customer).status_code == 200
        assert client.get(f"/carts/{cart}", headers=ADMIN).status_code == 200
        _assert_problem(client.get(f"/carts/{cart}"), 401)
        other = server.cli("token", "create", "--subject", "mallory", "--scopes", "orders")
        # Made while the server runs, it counts at once: another customer's token.
        _assert_problem(
            client.get(f"/carts/{cart}", headers={"Authorization": f"Bearer {other}"}), 403
        )
        assert category
