"""The services profile's analytics are folded once, by the workers, into the read
database: an API process folds nothing, so one started on a long-running deployment
serves analytics at the log's head from its first request."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import ServicesDeployment
from tests.support.load import ADMIN
from tests.support.server import Server

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _orders(client: httpx.Client, count: int) -> list[str]:
    category = client.post("/categories", json={"name": "Lamps"}).json()["id"]
    products = []
    for i in range(3):
        created = client.post(
            "/products",
            json={
                "sku": f"SA-{i}",
                "name": f"Lamp {i}",
                "category_id": category,
                "price": f"{10 + i}.00",
                "initial_stock": 1000,
            },
        )
        assert created.status_code == 201, created.text
        products.append(created.json()["id"])
    for i in range(count):
        cart = str(uuid.uuid4())
        added = client.post(
            f"/carts/{cart}/items", json={"product_id": products[i % 3], "quantity": 1 + i % 2}
        )
        assert added.status_code in (200, 201), added.text
        assert client.post(f"/carts/{cart}/checkout").status_code == 201
    return products


def test_a_new_api_process_serves_analytics_at_the_head_from_its_first_request(
    tmp_path: Path,
) -> None:
    deployment = ServicesDeployment(tmp_path / "data", apis=1, workers=1)
    deployment.start()
    try:
        with httpx.Client(base_url=deployment.url, headers=ADMIN, timeout=30) as client:
            products = _orders(client, 40)
            head = client.get("/status").json()["head"]
            query = {"group_by": "product", "min_version": head}
            served = client.get("/analytics/sales", params=query)
            assert served.status_code == 200, served.text
            history = client.get(f"/products/{products[0]}/price-history", params=query)
            assert history.status_code == 200, history.text
        expected = served.json()
        assert sum(row["orders"] for row in expected["rows"]) == 40

        newcomer = Server(deployment.data_dir, deployment.env)
        newcomer.start()
        try:
            with httpx.Client(base_url=newcomer.url, headers=ADMIN, timeout=30) as client:
                # Before any query: its analytics already stand where the workers left them.
                status = client.get("/status").json()
                by_name = {p["name"]: p for p in status["projections"]}
                for name in ("sales_analytics", "price_history"):
                    assert by_name[name]["store"] == "postgres", by_name[name]
                    assert by_name[name]["checkpoint"] >= head, by_name[name]
                # No wait: the first answer is at the head, without folding anything.
                first = client.get("/analytics/sales", params={**query, "wait_ms": 0})
                assert first.status_code == 200, first.text
                assert int(first.headers["X-Read-Version"]) >= head
                assert first.json() == expected
                again = client.get(
                    f"/products/{products[0]}/price-history", params={**query, "wait_ms": 0}
                )
                assert again.json() == history.json()
        finally:
            newcomer.stop()
        # No process keeps an analytics file of its own.
        assert not list(deployment.data_dir.rglob("*.duckdb"))
    finally:
        deployment.stop()
