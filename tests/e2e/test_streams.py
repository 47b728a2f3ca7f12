"""Server-sent events over real HTTP: product versions in order, progress, cleanup."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx

from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    kind = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield kind, json.loads(line.removeprefix("data: "))


def _product(client: httpx.Client, sku: str) -> str:
    category = client.post("/categories", json={"name": f"Stream {sku}"}, headers=ADMIN).json()
    created = client.post(
        "/products",
        json={"sku": sku, "name": "Live", "category_id": category["id"], "price": "1.00"},
        headers=ADMIN,
    )
    return str(created.json()["id"])


def _subscribers(client: httpx.Client) -> int:
    return int(client.get("/status").json()["subscribers"])


def test_a_subscriber_receives_every_version_of_a_product_in_order(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        product_id = _product(client, "SSE-1")
        prices = ["2.00", "3.00", "4.00", "5.00"]
        received: list[dict[str, object]] = []

        def change_prices() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as writer:
                deadline = time.monotonic() + 5
                while _subscribers(writer) == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
                for price in prices:
                    writer.put(
                        f"/products/{product_id}/price", json={"price": price}, headers=ADMIN
                    )

        with client.stream("GET", f"/stream/products/{product_id}") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            threading.Thread(target=change_prices, daemon=True).start()
            for kind, doc in _events(response):
                assert kind == "product"
                received.append(doc)
                if doc["price"] == prices[-1]:
                    break
        assert [doc["version"] for doc in received] == [1, 2, 3, 4, 5]
        assert [doc["price"] for doc in received] == ["1.00", *prices]
        deadline = time.monotonic() + 5
        while _subscribers(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _subscribers(client) == 0, "a closed stream kept its subscription"


def test_a_stream_of_an_unknown_product_is_404(server: Server) -> None:
    response = httpx.get(f"{server.url}/stream/products/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_progress_reports_each_projection_then_advances(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        seen: dict[str, int] = {}
        with client.stream("GET", "/stream/progress") as response:
            events = _events(response)
            names = {p["name"] for p in client.get("/status").json()["projections"]}
            while set(seen) != names:
                kind, body = next(events)
                assert kind == "progress"
                seen[str(body["projection"])] = int(str(body["checkpoint"]))
            version = client.post("/categories", json={"name": "Progress"}, headers=ADMIN).json()[
                "version"
            ]
            advanced: set[str] = set()
            while advanced != names:
                kind, body = next(events)
                if int(str(body["checkpoint"])) >= version:
                    advanced.add(str(body["projection"]))
                    assert int(str(body["head"])) >= version
