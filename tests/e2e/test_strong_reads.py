"""`consistency=strong`: reads answered from the write database at the log head.

A strong read reflects every command that answered before it began, on whichever API
process it lands, without a read-your-writes cookie and whatever the read models have
applied; it never comes from an answer kept in memory.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.support.deployment import ServicesDeployment
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STRONG = {"consistency": "strong"}
WAIT_MS = 10_000


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _product(client: httpx.Client, tag: str) -> tuple[str, str, int]:
    """A new category with one product in it: (category id, product id, version)."""
    category = _post(client, "/categories", {"name": f"Strong {tag}"})["id"]
    created = _post(
        client,
        "/products",
        {
            "sku": f"STRONG-{tag}",
            "name": f"Lantern {tag}",
            "description": "Bright.",
            "category_id": category,
            "price": "10.00",
            "initial_stock": 5,
        },
    )
    return str(category), str(created["id"]), int(created["version"])


def _price(client: httpx.Client, product: str, price: str) -> int:
    response = client.put(f"/products/{product}/price", json={"price": price}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def _read(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


def test_a_strong_read_sees_every_write_before_it_without_a_cookie(server: Deployment) -> None:
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=server.url, timeout=30) as writer:
        category, product, version = _product(writer, tag)
        for step in range(1, 21):
            # Read first, so that any answer kept in memory holds the older price.
            _read(writer, f"/products/{product}", min_version=version, wait_ms=WAIT_MS)
            price = f"{10 + step}.00"
            version = _price(writer, product, price)
            # A fresh client: no read-your-writes cookie to wait for.
            with httpx.Client(base_url=server.url, timeout=30) as reader:
                read = _read(reader, f"/products/{product}", **STRONG)
                assert read.json()["price"] == price
                assert int(read.headers["x-read-version"]) >= version
                found = _read(reader, "/products", q=f"lantern {tag}", **STRONG).json()
                assert [item["price"] for item in found["items"]] == [price]
                stats = _read(reader, f"/categories/{category}/stats", **STRONG).json()
                assert stats["min_price"] == price


def test_strong_is_a_read_option_not_a_stream_option(server: Deployment) -> None:
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        _, product, _ = _product(client, tag)
        bogus = client.get(f"/products/{product}", params={"consistency": "linearizable"})
        assert bogus.status_code == 400
        assert bogus.json()["type"].endswith("invalid-consistency")
        assert "'strong'" in bogus.json()["detail"]
        streamed = client.get(f"/stream/products/{product}", params=STRONG)
        assert streamed.status_code == 400
        assert "'strong'" not in streamed.json()["detail"]


@contextmanager
def _paused(processes: list[Any]) -> Iterator[None]:
    """The processes stopped (SIGSTOP) for the block: the read models stand still."""
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)


def test_a_strong_read_on_another_process_is_ahead_of_stopped_read_models(
    server: Deployment,
) -> None:
    if not isinstance(server, ServicesDeployment) or server.level == 1:
        pytest.skip("needs API processes apart from the workers that fold the read models")
    tag = uuid.uuid4().hex[:8]
    first, second = (httpx.Client(base_url=api.url, timeout=30) for api in server.apis[:2])
    with first, second:
        category, product, version = _product(first, tag)
        _read(second, f"/products/{product}", min_version=version, wait_ms=WAIT_MS)
        with _paused([*server.workers, *server.relays]):
            version = _price(first, product, "99.00")
            read = _read(second, f"/products/{product}", **STRONG)
            assert read.json()["price"] == "99.00"
            assert int(read.headers["x-read-version"]) >= version
            # The read model has not applied the change, and says so.
            behind = _read(second, f"/products/{product}", consistency="eventual")
            assert behind.json()["price"] == "10.00"
            assert int(behind.headers["x-read-version"]) < version
            stats = _read(second, f"/categories/{category}/stats", **STRONG).json()
            assert stats["max_price"] == "99.00"
