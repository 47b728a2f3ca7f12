"""Guest shopping on a real deployment of each profile: the storefront's cookie makes a
customer of the browser, which owns its cart and orders like a token's subject does.

A change the guest cookie alone authenticates must come from the site's own pages: a
request a page of another site could make is 403 `cross-site-request` and writes
nothing; no guest reads or changes another's cart or order, nor a token holder's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# What the storefront's scripts send with every change.
PAGE = {"X-Requested-With": "fetch"}
WAIT = {"wait_ms": 10_000}
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture(scope="module")
def product(server: Deployment) -> Iterator[str]:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        category = api.post("/categories", json={"name": "Guests"}, headers=ADMIN).json()["id"]
        body = {
            "sku": f"GUEST-{uuid.uuid4().hex[:8]}",
            "name": "Guest mug",
            "category_id": category,
            "price": "7.50",
            "initial_stock": 100,
        }
        created = api.post("/products", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        yield str(created.json()["id"])


def _browser(server: Deployment) -> httpx.Client:
    """A client holding the guest cookie the storefront gave it."""
    client = httpx.Client(base_url=server.url, timeout=30)
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "tandem_guest" in client.cookies
    return client


@pytest.fixture
def alice(server: Deployment) -> Iterator[httpx.Client]:
    client = _browser(server)
    yield client
    client.close()


@pytest.fixture
def bob(server: Deployment) -> Iterator[httpx.Client]:
    client = _browser(server)
    yield client
    client.close()


def _add(client: httpx.Client, cart: str, product: str, quantity: int = 1) -> httpx.Response:
    line = {"product_id": product, "quantity": quantity}
    return client.post(f"/carts/{cart}/items", json=line, headers=PAGE)


def _read(client: httpx.Client, path: str, version: int) -> httpx.Response:
    return client.get(path, params={"min_version": version, **WAIT})


def _assert_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(kind)


def test_the_pages_give_a_guest_cookie_only_scripts_cannot_read(server: Deployment) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        first = client.get("/")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("tandem_guest=")
        for attribute in ("HttpOnly", "SameSite=lax", "Path=/"):
            assert attribute.lower() in cookie.lower()
        assert "secure" not in cookie.lower()  # served over plain http here
        again = client.get("/")
        assert "tandem_guest" not in again.headers.get("set-cookie", "")


def test_a_guest_shops_checks_out_and_reads_the_order(alice: httpx.Client, product: str) -> None:
    cart = str(uuid.uuid4())
    added = _add(alice, cart, product, 2)
    assert added.status_code == 200, added.text
    read = _read(alice, f"/carts/{cart}", added.json()["version"])
    assert read.status_code == 200, read.text
    assert [(line["name"], line["quantity"]) for line in read.json()["lines"]] == [("Guest mug", 2)]
    # A guest has no other way to be reached: the checkout must say whom it is for.
    nameless = alice.post(f"/carts/{cart}/checkout", headers=PAGE)
    _assert_problem(nameless, 422, "invalid-input")
    for bad in ({"name": "Ada", "email": "not an address"}, {"name": " ", "email": ADA["email"]}):
        _assert_problem(alice.post(f"/carts/{cart}/checkout", json=bad, headers=PAGE), 422, "")
    placed = alice.post(f"/carts/{cart}/checkout", json=ADA, headers=PAGE)
    assert placed.status_code == 201, placed.text
    order = _read(alice, f"/orders/{placed.json()['id']}", placed.json()["version"])
    assert order.status_code == 200, order.text
    assert order.json()["total"] == "15.00"
    assert order.json()["contact"] == ADA
    assert order.json()["customer"].startswith("guest:")
    assert order.json()["customer"] not in alice.cookies["tandem_guest"]


def test_guests_never_reach_each_others_carts_or_orders(
    alice: httpx.Client, bob: httpx.Client, product: str
) -> None:
    cart = str(uuid.uuid4())
    added = _add(alice, cart, product)
    version = added.json()["version"]
    _assert_problem(_read(bob, f"/carts/{cart}", version), 403, "forbidden")
    _assert_problem(_add(bob, cart, product), 403, "forbidden")
    removed = bob.delete(f"/carts/{cart}/items/{product}", headers=PAGE)
    _assert_problem(removed, 403, "forbidden")
    _assert_problem(bob.post(f"/carts/{cart}/checkout", json=ADA, headers=PAGE), 403, "forbidden")
    placed = alice.post(f"/carts/{cart}/checkout", json=ADA, headers=PAGE)
    order, version = placed.json()["id"], placed.json()["version"]
    _assert_problem(_read(bob, f"/orders/{order}", version), 403, "forbidden")
    _assert_problem(bob.post(f"/orders/{order}/cancel", headers=PAGE), 403, "forbidden")
    assert _read(alice, f"/orders/{order}", version).json()["status"] == "placed"


def test_a_guest_cannot_read_a_token_holders_cart(
    server: Deployment, alice: httpx.Client, product: str
) -> None:
    issued = alice.post(
        "/admin/tokens", json={"subject": "carol", "scopes": ["orders"]}, headers=ADMIN
    )
    assert issued.status_code == 201, issued.text
    carol = {"Authorization": f"Bearer {issued.json()['token']}"}
    cart = str(uuid.uuid4())
    line = {"product_id": product, "quantity": 1}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        added = api.post(f"/carts/{cart}/items", json=line, headers=carol)
        assert added.status_code == 200, added.text
    _assert_problem(_read(alice, f"/carts/{cart}", added.json()["version"]), 403, "forbidden")
    _assert_problem(_add(alice, cart, product), 403, "forbidden")


def test_no_token_may_take_a_guest_subject(alice: httpx.Client) -> None:
    for subject in ("guest:0123456789abcdef0123456789abcdef", "Guest:x"):
        body: dict[str, Any] = {"subject": subject, "scopes": ["orders"]}
        answer = alice.post("/admin/tokens", json=body, headers=ADMIN)
        _assert_problem(answer, 422, "invalid-input")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Requested-With": "fetch", "Sec-Fetch-Site": "cross-site"},
        {"X-Requested-With": "fetch", "Sec-Fetch-Site": "same-site"},
        {"X-Requested-With": "fetch", "Origin": "https://shop.example"},
        {"Content-Type": "text/plain", "Origin": "null"},
    ],
    ids=["no marker", "cross-site", "same-site", "other origin", "form-like"],
)
def test_a_cross_site_change_is_refused_and_writes_nothing(
    server: Deployment, alice: httpx.Client, product: str, headers: dict[str, str]
) -> None:
    cart = str(uuid.uuid4())
    added = _add(alice, cart, product)
    version = added.json()["version"]
    line = {"product_id": product, "quantity": 3}
    forged = [
        alice.post(f"/carts/{cart}/items", json=line, headers=headers),
        alice.delete(f"/carts/{cart}/items/{product}", headers=headers),
        alice.post(f"/carts/{cart}/checkout", json=ADA, headers=headers),
    ]
    for answer in forged:
        _assert_problem(answer, 403, "cross-site-request")
    after = _read(alice, f"/carts/{cart}", version).json()
    assert [line["quantity"] for line in after["lines"]] == [1]
    # What a browser sends from the site's own page; `Sec-Fetch-Site` is the browser's
    # word, whatever Host a proxy in front passed on.
    pages = [{**PAGE, "Sec-Fetch-Site": "same-origin", "Origin": "https://shop.example"}]
    if isinstance(server, Server):  # no proxy in front rewrites the Host header
        # An older browser, without Sec-Fetch-Site: its Origin is the Host it asked.
        pages.append({**PAGE, "Origin": str(alice.base_url).rstrip("/")})
    for same_origin in pages:
        added = alice.post(f"/carts/{cart}/items", json=line, headers=same_origin)
        assert added.status_code == 200, added.text


def test_without_cookie_or_token_the_cart_still_needs_a_token(
    server: Deployment, product: str
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as stranger:
        answer = _add(stranger, str(uuid.uuid4()), product)
        _assert_problem(answer, 401, "unauthorized")
        forged = stranger.post(
            f"/carts/{uuid.uuid4()}/items",
            json={"product_id": product, "quantity": 1},
            headers={**PAGE, "Cookie": "tandem_guest=not-a-secret"},
        )
        _assert_problem(forged, 401, "unauthorized")
