"""Races over real HTTP: many clients at once, each business rule holding on every profile.

Every scenario fires its requests together (`asyncio.gather`, one connection per client),
so on the services profile they land on both API processes through the proxy.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.e2e.conftest import Deployment
from tests.support.server import ADMIN_TOKEN
from tests.support.status import settled_head

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CLIENTS = 50
# Reads at a version wait up to this long: a loaded machine's read models lag.
WAIT_MS = 10_000

Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def _all_at_once(server: Deployment, clients: int, call: Call) -> list[httpx.Response]:
    """`call(client, i)` from `clients` separate clients, all in flight together."""

    async def run() -> list[httpx.Response]:
        # Plain HTTP: one shared TLS context spares building one per client.
        tls = ssl.create_default_context()
        pool = [
            httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=60, verify=tls)
            for _ in range(clients)
        ]
        try:
            start = asyncio.Event()

            async def one(i: int) -> httpx.Response:
                await start.wait()
                return await _retrying_outages(lambda: call(pool[i], i))

            tasks = [asyncio.create_task(one(i)) for i in range(clients)]
            await asyncio.sleep(0)
            start.set()
            return list(await asyncio.gather(*tasks))
        finally:
            await asyncio.gather(*(client.aclose() for client in pool))

    return asyncio.run(run())


async def _retrying_outages(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """What a client does with 503 `store-unavailable` (a shared database out of
    connection slots, say): wait and send the very same request again."""
    for _ in range(30):
        response = await send()
        if response.status_code != 503 or response.json().get("type") != "store-unavailable":
            return response
        await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 4)
    return response


def _head(client: httpx.Client) -> int:
    return settled_head(client)


def _category(client: httpx.Client) -> str:
    response = client.post("/categories", json={"name": f"Races {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _product(client: httpx.Client, category: str, stock: int = 0) -> httpx.Response:
    response = client.post(
        "/products",
        json={
            "sku": f"RACE-{uuid.uuid4().hex[:10]}",
            "name": "Contested",
            "category_id": category,
            "price": "20.00",
            "initial_stock": stock,
        },
    )
    assert response.status_code == 201, response.text
    return response


def _detail(client: httpx.Client, product_id: str, version: int) -> dict[str, Any]:
    response = client.get(
        f"/products/{product_id}", params={"min_version": version, "wait_ms": WAIT_MS}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _assert_one_answer(responses: list[httpx.Response]) -> httpx.Response:
    """Every caller got the same status and the same body; returns one of them."""
    first = responses[0]
    assert {r.status_code for r in responses} == {first.status_code}, [
        (r.status_code, r.text) for r in responses
    ]
    assert all(r.json() == first.json() for r in responses), {r.text for r in responses}
    assert {r.headers.get("etag") for r in responses} == {first.headers.get("etag")}
    return first


def test_one_idempotency_key_from_many_clients_has_one_effect(server: Deployment) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        created = _product(client, _category(client), stock=10)
        product_id = created.json()["id"]
        before = _head(client)
        key = f"restock-{uuid.uuid4()}"

        results = _all_at_once(
            server,
            CLIENTS,
            lambda c, _i: c.post(
                f"/products/{product_id}/stock-adjustments",
                json={"delta": 7, "reason": "delivery"},
                headers={"Idempotency-Key": key},
            ),
        )

        answer = _assert_one_answer(results)
        assert answer.status_code == 200, answer.text
        assert answer.headers["etag"] == '"2"'
        detail = _detail(client, product_id, answer.json()["version"])
        assert detail["stock"] == 17
        assert detail["version"] == 2  # one version bump
        assert _head(client) == answer.json()["version"]
        assert answer.json()["version"] > before
        # Exactly one event joined the log: the next command lands right after it,
        # on the aggregate's next version.
        follow = client.post(
            f"/products/{product_id}/stock-adjustments", json={"delta": 1, "reason": "count"}
        )
        assert follow.status_code == 200, follow.text
        assert follow.headers["etag"] == '"3"'


def test_one_idempotency_key_on_a_create_makes_one_aggregate(server: Deployment) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        before = _head(client)
        key = f"create-{uuid.uuid4()}"
        name = f"Once {uuid.uuid4().hex[:8]}"

        results = _all_at_once(
            server,
            CLIENTS,
            lambda c, _i: c.post(
                "/categories", json={"name": name}, headers={"Idempotency-Key": key}
            ),
        )

        answer = _assert_one_answer(results)
        assert answer.status_code == 201, answer.text
        version = answer.json()["version"]
        tree = client.get("/categories", params={"min_version": version, "wait_ms": WAIT_MS})
        assert tree.status_code == 200, tree.text
        assert _count_named(tree.json(), name) == 1
        # One event: the log head moved past `before` exactly to the answer's position,
        # and nothing else was appended.
        assert before < version == _head(client)


def _count_named(tree: Any, name: str) -> int:
    """How many categories called `name` the `/categories` tree holds, at any depth."""
    if isinstance(tree, list):
        return sum(_count_named(node, name) for node in tree)
    if isinstance(tree, dict):
        own = 1 if tree.get("name") == name and "id" in tree else 0
        return own + sum(_count_named(value, name) for value in tree.values())
    return 0


def test_concurrent_checkouts_of_mixed_quantities_never_oversell(server: Deployment) -> None:
    stock = 7
    buyers = 24
    quantities = [1 + i % 3 for i in range(buyers)]
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        product_id = _product(client, _category(client), stock=stock).json()["id"]
        carts = [str(uuid.uuid4()) for _ in range(buyers)]
        for cart, quantity in zip(carts, quantities, strict=True):
            added = client.post(
                f"/carts/{cart}/items", json={"product_id": product_id, "quantity": quantity}
            )
            assert added.status_code == 200, added.text

        results = _all_at_once(server, buyers, lambda c, i: c.post(f"/carts/{carts[i]}/checkout"))

        sold = 0
        for quantity, response in zip(quantities, results, strict=True):
            if response.status_code == 201:
                sold += quantity
            else:
                assert response.status_code == 409, response.text
                assert response.json()["type"] == "insufficient-stock"
        assert 0 < sold <= stock
        newest = max(r.json()["version"] for r in results if r.status_code == 201)
        detail = _detail(client, product_id, newest)
        assert detail["stock"] == stock - sold >= 0
        assert detail["in_stock"] is (stock - sold > 0)


def test_concurrent_creates_of_one_sku_have_one_winner(server: Deployment) -> None:
    contenders = 30
    sku = f"RACE-SKU-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        category = _category(client)

        results = _all_at_once(
            server,
            contenders,
            lambda c, i: c.post(
                "/products",
                json={"sku": sku, "name": f"Claim {i}", "category_id": category, "price": "1.00"},
            ),
        )

        winners = [r for r in results if r.status_code == 201]
        assert len(winners) == 1, [(r.status_code, r.text) for r in results]
        for loser in results:
            if loser.status_code != 201:
                assert loser.status_code == 409, loser.text
                assert loser.headers["content-type"] == "application/problem+json"
                assert loser.json()["type"] == "duplicate-sku"
        version = winners[0].json()["version"]
        found = client.get(
            "/products", params={"q": sku, "min_version": version, "wait_ms": WAIT_MS}
        ).json()
        assert [item["id"] for item in found["items"] if item["sku"] == sku] == [
            winners[0].json()["id"]
        ]


def test_a_stale_if_match_never_wins(server: Deployment) -> None:
    contenders = 30
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        created = _product(client, _category(client))
        product_id, etag = created.json()["id"], created.headers["etag"]
        prices = [f"{30 + i}.00" for i in range(contenders)]

        results = _all_at_once(
            server,
            contenders,
            lambda c, i: c.put(
                f"/products/{product_id}/price",
                json={"price": prices[i]},
                headers={"If-Match": etag},
            ),
        )

        winners = [i for i, r in enumerate(results) if r.status_code == 200]
        assert len(winners) == 1, [(r.status_code, r.text) for r in results]
        for response in results:
            if response.status_code != 200:
                # api.md: an If-Match mismatch is 409 `version-conflict`.
                assert response.status_code == 409, response.text
                assert response.json()["type"] == "version-conflict"
        winner = results[winners[0]]
        assert winner.headers["etag"] == '"2"'
        detail = _detail(client, product_id, winner.json()["version"])
        assert detail["price"] == prices[winners[0]]
        assert detail["version"] == 2
        # The losers' ETag is stale now too: it still never wins.
        late = client.put(
            f"/products/{product_id}/price", json={"price": "1.00"}, headers={"If-Match": etag}
        )
        assert late.status_code == 409
