"""The consistency contract end to end, over real HTTP against a running server."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _create_category(client: httpx.Client, name: str, parent: str | None = None) -> dict[str, int]:
    body: dict[str, str] = {"name": name}
    if parent:
        body["parent_id"] = parent
    response = client.post("/categories", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _create_product(
    client: httpx.Client, category: str, *, sku: str, name: str, stock: int = 10
) -> httpx.Response:
    response = client.post(
        "/products",
        json={
            "sku": sku,
            "name": name,
            "description": "Lightweight and tough.",
            "category_id": category,
            "price": "49.90",
            "initial_stock": stock,
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    return response


def test_create_then_read_at_the_returned_version(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Outdoor")
        created = _create_product(client, str(root["id"]), sku="E2E-1", name="Canyon Tent")
        body = created.json()
        assert set(body) == {"id", "version"}
        assert created.headers["etag"] == '"1"'
        assert created.cookies["tandem_rv"] == str(body["version"])
        read = client.get(f"/products/{body['id']}", params={"min_version": body["version"]})
        assert read.status_code == 200
        assert int(read.headers["x-read-version"]) >= body["version"]
        detail = read.json()
        assert detail["name"] == "Canyon Tent"
        assert detail["price"] == "49.90"
        assert detail["category"]["path"] == ["Outdoor"]
        # The session cookie alone makes the next read wait for the write.
        again = client.get(f"/products/{body['id']}")
        assert int(again.headers["x-read-version"]) >= body["version"]
        not_modified = client.get(
            f"/products/{body['id']}", headers={"If-None-Match": read.headers["etag"]}
        )
        assert not_modified.status_code == 304


def test_category_stats_at_the_written_version_in_any_id_spelling(server: Server) -> None:
    """Stats of a canonical id take the hot path, other spellings the router: both answer
    the same document at the written version; an unknown category is a 404 problem."""
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Stats root")
        category = str(root["id"])
        created = _create_product(client, category, sku="E2E-STATS", name="Stats Lamp", stock=4)
        version = created.json()["version"]
        hot = client.get(f"/categories/{category}/stats", params={"min_version": version})
        assert hot.status_code == 200, hot.text
        assert int(hot.headers["x-read-version"]) >= version
        stats = hot.json()
        assert stats["category_id"] == category
        assert (stats["product_count"], stats["total_stock"]) == (1, 4)
        assert stats["min_price"] == stats["max_price"] == "49.90"
        routed = client.get(
            f"/categories/{category.upper()}/stats", headers={"X-Min-Version": str(version)}
        )
        assert routed.status_code == 200, routed.text
        assert routed.json() == stats
        missing = client.get(f"/categories/{uuid.uuid4()}/stats")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert client.get("/categories/not-a-uuid/stats").status_code == 422


def test_unreachable_version_is_503_with_retry_after(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Far future")
        response = client.get(
            "/categories", params={"min_version": root["version"] + 10**9, "wait_ms": 50}
        )
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "read-model-behind"


def test_category_rename_cascades_into_detail_and_search(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Footwear")
        leaf = _create_category(client, "Trail", str(root["id"]))
        product = _create_product(client, str(leaf["id"]), sku="E2E-CASCADE", name="Ridge Runner")
        product_id = product.json()["id"]
        renamed = client.patch(
            f"/categories/{root['id']}", json={"name": "Mountain Shoes"}, headers=ADMIN
        )
        assert renamed.status_code == 200, renamed.text
        version = renamed.json()["version"]
        detail = client.get(f"/products/{product_id}", params={"min_version": version}).json()
        assert detail["category"]["path"] == ["Mountain Shoes", "Trail"]
        found = client.get("/products", params={"q": "mountain", "min_version": version}).json()
        assert product_id in [item["id"] for item in found["items"]]
        gone = client.get("/products", params={"q": "footwear", "min_version": version}).json()
        assert product_id not in [item["id"] for item in gone["items"]]


def test_idempotent_retry_is_applied_once(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Kitchen")
        product_id = _create_product(
            client, str(root["id"]), sku="E2E-IDEM", name="Cast Pan"
        ).json()["id"]
        headers = {**ADMIN, "Idempotency-Key": f"restock-{uuid.uuid4()}"}
        body = {"delta": 5, "reason": "delivery"}
        first = client.post(f"/products/{product_id}/stock-adjustments", json=body, headers=headers)
        second = client.post(
            f"/products/{product_id}/stock-adjustments", json=body, headers=headers
        )
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        detail = client.get(
            f"/products/{product_id}", params={"min_version": first.json()["version"]}
        )
        assert detail.json()["stock"] == 15
        other = client.post(
            f"/products/{product_id}/stock-adjustments",
            json={"delta": 6, "reason": "x"},
            headers=headers,
        )
        assert other.status_code == 409
        assert other.json()["type"] == "idempotency-key-reuse"


def test_stale_if_match_is_a_version_conflict(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Garden")
        created = _create_product(client, str(root["id"]), sku="E2E-IFMATCH", name="Hose")
        product_id = created.json()["id"]
        etag = created.headers["etag"]
        first = client.put(
            f"/products/{product_id}/price",
            json={"price": "10.00"},
            headers={**ADMIN, "If-Match": etag},
        )
        assert first.status_code == 200
        assert first.headers["etag"] == '"2"'
        stale = client.put(
            f"/products/{product_id}/price",
            json={"price": "11.00"},
            headers={**ADMIN, "If-Match": etag},
        )
        assert stale.status_code == 409
        assert stale.json()["type"] == "version-conflict"
        detail = client.get(
            f"/products/{product_id}", params={"min_version": first.json()["version"]}
        )
        assert detail.json()["price"] == "10.00"


def test_concurrent_checkouts_never_oversell(server: Server) -> None:
    stock = 3
    buyers = 12
    with httpx.Client(base_url=server.url) as client:
        root = _create_category(client, "Limited")
        product_id = _create_product(
            client, str(root["id"]), sku="E2E-LAST", name="Signed Print", stock=stock
        ).json()["id"]
        carts = [str(uuid.uuid4()) for _ in range(buyers)]
        for cart in carts:
            added = client.post(
                f"/carts/{cart}/items",
                json={"product_id": product_id, "quantity": 1},
                headers=ADMIN,
            )
            assert added.status_code == 200, added.text

    async def checkout_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return list(
                await asyncio.gather(
                    *(client.post(f"/carts/{cart}/checkout", headers=ADMIN) for cart in carts)
                )
            )

    results = asyncio.run(checkout_all())
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == stock
    assert statuses.count(409) == buyers - stock
    assert all(r.json()["type"] == "insufficient-stock" for r in results if r.status_code == 409)
    newest = max(r.json()["version"] for r in results if r.status_code == 201)
    with httpx.Client(base_url=server.url) as client:
        detail = client.get(f"/products/{product_id}", params={"min_version": newest}).json()
        assert detail["stock"] == 0
        assert detail["in_stock"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/categories", {"name": "x"}),
        ("post", "/products", {"sku": "s"}),
    ],
)
def test_writes_need_a_token(server: Server, method: str, path: str, body: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = client.request(method.upper(), path, json=body)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        bad = client.request(
            method.upper(), path, json=body, headers={"Authorization": "Bearer nope"}
        )
        assert bad.status_code == 401


def test_rebuild_routes_say_what_a_deployment_can_rebuild(server: Server) -> None:
    """At level 1 no read model exists to rebuild: start, progress and cancel all answer
    409 `rebuild-unsupported`; elsewhere an unknown read model is a 404."""
    path = "/admin/projections/category_stats/rebuild"
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as client:
        if server.level == 1:
            for method in ("POST", "GET", "DELETE"):
                response = client.request(method, path)
                assert response.status_code == 409, (method, response.text)
                assert response.json()["type"].endswith("rebuild-unsupported"), method
        else:
            unknown = "/admin/projections/no_such_model/rebuild"
            for method in ("POST", "GET", "DELETE"):
                assert client.request(method, unknown).status_code == 404, method
