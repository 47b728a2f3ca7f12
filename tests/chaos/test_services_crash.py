"""SIGKILL projection workers and relays of the services profile mid-stream, again and
again.

Two workers share the projections under leases while a writer keeps sending commands
in bursts; a worker (and, with JetStream, one of two relays) is killed while
projections are behind, and restarted. When the dust settles every read model in Redis
and the read database must equal a fold of the whole event log into fresh stores:
nothing lost, nothing applied twice.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import ServicesDeployment
from tests.support.server import ADMIN_TOKEN
from tests.support.services_readmodels import differences

pytestmark = [pytest.mark.services, pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KILLS = 6


def _write_load(url: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Bursts of catalog commands: products, price and stock changes, carts, orders."""
    rng = random.Random(7)
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        category = client.post("/categories", json={"name": "Chaos"}).json()["id"]
        sub = client.post("/categories", json={"name": "Sub", "parent_id": category}).json()["id"]
        products: list[str] = []
        while not stop.is_set():
            for _ in range(rng.randint(5, 30)):
                roll = rng.random()
                if roll < 0.25 or len(products) < 5:
                    body = {
                        "sku": f"C-{uuid.uuid4().hex[:10]}",
                        "name": f"Thing {len(products)}",
                        "category_id": rng.choice([category, sub]),
                        "price": f"{rng.randint(100, 9999) / 100:.2f}",
                        "initial_stock": rng.randint(0, 5),
                    }
                    response = client.post("/products", json=body)
                    products.append(response.json()["id"])
                elif roll < 0.5:
                    price = f"{rng.randint(100, 9999) / 100:.2f}"
                    response = client.put(
                        f"/products/{rng.choice(products)}/price", json={"price": price}
                    )
                elif roll < 0.7:
                    response = client.post(
                        f"/products/{rng.choice(products)}/stock-adjustments",
                        json={"delta": rng.randint(1, 4), "reason": "delivery"},
                    )
                elif roll < 0.9:
                    cart = str(uuid.uuid4())
                    response = client.post(
                        f"/carts/{cart}/items",
                        json={"product_id": rng.choice(products), "quantity": 1},
                    )
                    if rng.random() < 0.5:
                        response = client.post(f"/carts/{cart}/checkout")
                else:
                    response = client.put(
                        f"/categories/{sub}", json={"name": f"Sub {rng.random()}"}
                    )
                counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1
            time.sleep(rng.random() * 0.2)


def _status(url: str) -> dict[str, object]:
    return dict(httpx.get(f"{url}/status", timeout=10).json())


def _behind(url: str) -> int:
    status = _status(url)
    return max(int(str(p["lag_events"])) for p in status["projections"])  # type: ignore[attr-defined]


def _caught_up(url: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(url)
        projections = status["projections"]
        assert isinstance(projections, list)
        if all(p["checkpoint"] == status["head"] and p["state"] == "live" for p in projections):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("transport", ["postgres", "nats"])
def test_killed_workers_leave_every_read_model_equal_to_a_rebuild(
    transport: str, tmp_path: Path
) -> None:
    relays = 2 if transport == "nats" else 0
    split = {"product_detail": 3}
    deployment = ServicesDeployment(
        tmp_path / "data", apis=1, workers=2, relays=relays, partitions=split
    )
    deployment.start()
    try:
        stop = threading.Event()
        counts: dict[str, int] = {}
        writer = threading.Thread(target=_write_load, args=(deployment.url, stop, counts))
        writer.start()
        rng = random.Random(11)
        behind_at_kill = 0
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.3, 1.2))
                if _behind(deployment.url) > 0:
                    behind_at_kill += 1
                deployment.restart_worker(rng.randrange(2))
                if relays:
                    deployment.restart_relay(rng.randrange(relays))
        finally:
            stop.set()
            writer.join(60)
        assert behind_at_kill > 0, "no kill landed while a projection was behind"
        assert counts.get("500", 0) == 0, counts
        assert _caught_up(deployment.url), _status(deployment.url)
        assert deployment.write_db is not None and deployment.read_db is not None
        problems = asyncio.run(
            differences(deployment.write_db.url, deployment.read_db.url, deployment.prefix, split)
        )
        assert problems == [], problems[:10]
    finally:
        deployment.stop()
