"""An event over `TANDEM_MAX_EVENT_BYTES` is a 413 problem and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("bound")
    srv = Server(root / "data", {"TANDEM_MAX_EVENT_BYTES": "4096"})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _head(client: httpx.Client) -> int:
    return int(client.get("/status").json()["head"])


def test_a_command_whose_event_is_over_the_bound_is_refused_and_writes_nothing(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as client:
        category = client.post("/categories", json={"name": "Bounded"}).json()["id"]
        head = _head(client)
        refused = client.post(
            "/products",
            json={
                "sku": "BIG-1",
                "name": "Verbose",
                "description": "x" * 4500,
                "category_id": category,
                "price": "1.00",
            },
        )
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"] == "event-too-large" and problem["status"] == 413
        assert "4096" in problem["detail"]
        assert _head(client) == head
        missing = client.get("/products", params={"q": "Verbose", "min_version": head})
        assert missing.json()["total"] == 0
        fits = client.post(
            "/products",
            json={"sku": "S-1", "name": "Terse", "category_id": category, "price": "1.00"},
        )
        assert fits.status_code == 201, fits.text
