"""The shop the storefront's browser tests start from, created through the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.server import ADMIN_TOKEN, Server


@dataclass(frozen=True)
class Shop:
    """The data every test starts from."""

    url: str
    api: httpx.Client
    kitchen: str
    garden: str
    products: dict[str, str]  # name -> id


@contextmanager
def stocked(server: Server) -> Iterator[Shop]:
    """The categories and products of `Shop`, made through the API of `server`."""
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    )

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    kitchen = post("/categories", {"name": "Kitchen"})["id"]
    knives = post("/categories", {"name": "Knives", "parent_id": kitchen})["id"]
    garden = post("/categories", {"name": "Garden"})["id"]
    catalog = [
        ("CHEF-1", "Chef knife", knives, "49.90", 5),
        ("PARE-1", "Paring knife", knives, "12.50", 10),
        ("SCALE-1", "Kitchen scale", kitchen, "19.99", 4),
        ("HOSE-1", "Garden hose", garden, "29.00", 3),
        ("CAN-1", "Copper watering can", garden, "35.00", 1),
    ]
    products: dict[str, str] = {}
    version = 0
    for sku, name, category, price, stock in catalog:
        body = {
            "sku": sku,
            "name": name,
            "category_id": category,
            "price": price,
            "initial_stock": stock,
            "description": f"A {name.lower()} for the browser tests.",
        }
        created = post("/products", body)
        products[name] = created["id"]
        version = created["version"]
    # Search is fed asynchronously: wait until it has every product before any page asks.
    found = api.get("/products", params={"min_version": version, "wait_ms": 10000})
    assert found.json()["total"] == len(catalog)
    page = api.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200, "the pages router is not mounted in catalog.api.app"
    yield Shop(server.url, api, kitchen, garden, products)
    api.close()
