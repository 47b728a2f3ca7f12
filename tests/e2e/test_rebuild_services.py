"""Blue/green rebuilds on the services profile, under continuous writes and reads.

Two API processes and two workers (product detail split in two partitions) serve while
a writer changes prices and readers query every read model at the version
they had seen. Each read model is rebuilt in turn through the admin API: workers fold
a new copy (a new Redis namespace, new tables in the read database) from position 0 and promote it;
the API processes switch to it. No read may fail or go back in time; afterwards every
live copy equals a fold of the whole log, and the replaced copies' storage is gone.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from catalog.read_models.price_history.postgres import PostgresPriceHistoryProjection
from catalog.read_models.product_search.postgres import PostgresProductSearchProjection
from catalog.read_models.sales_analytics.postgres import PostgresSalesAnalyticsProjection
from tandem.stores.postgres import table_prefix
from tests.support.deployment import ServicesDeployment
from tests.support.load import ADMIN, Load, wait_rebuild
from tests.support.server import run_cli
from tests.support.services import REDIS_URL
from tests.support.services_readmodels import differences

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REBUILT = ["product_detail", "product_search", "category_stats", "cart_view", "order_view"]
ANALYTICS = ["sales_analytics", "price_history"]
PARTITIONS = {"product_detail": 2}


def _history(client: httpx.Client, products: int) -> tuple[str, list[str], str, str]:
    category = client.post("/categories", json={"name": "Rebuilt"}).json()["id"]
    ids = []
    for i in range(products):
        created = client.post(
            "/products",
            json={
                "sku": f"RB-{i}",
                "name": f"Lamp {i}",
                "category_id": category,
                "price": f"{10 + i}.00",
                "initial_stock": 50,
            },
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    cart = str(uuid.uuid4())
    client.post(f"/carts/{cart}/items", json={"product_id": ids[0], "quantity": 1})
    order = client.post(f"/carts/{cart}/checkout").json()["id"]
    other = str(uuid.uuid4())
    client.post(f"/carts/{other}/items", json={"product_id": ids[1], "quantity": 2})
    return category, ids, order, other


@pytest.fixture
def deployment(tmp_path: Path) -> ServicesDeployment:
    deployed = ServicesDeployment(tmp_path / "data", partitions=PARTITIONS)
    deployed.start()
    try:
        yield deployed  # type: ignore[misc]
    finally:
        deployed.stop()


def test_worker_fed_read_models_rebuild_under_load(deployment: ServicesDeployment) -> None:
    url = deployment.url
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        category, ids, order, cart = _history(client, 30)
    paths = {
        "product_detail": f"/products/{ids[1]}",
        "product_search": "/products?q=lamp&limit=5",
        "category_stats": f"/categories/{category}/stats",
        "cart_view": f"/carts/{cart}",
        "order_view": f"/orders/{order}",
        "sales_analytics": "/analytics/sales",
        "price_history": f"/products/{ids[1]}/price-history",
    }
    rng = random.Random(5)

    def write(client: httpx.Client, _step: int) -> list[httpx.Response]:
        price = f"{rng.randint(100, 9999) / 100:.2f}"
        return [client.put(f"/products/{rng.choice(ids)}/price", json={"price": price})]

    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as admin:
        head = admin.get("/status").json()["head"]
        with Load(url, paths, head, write, pause=0.01) as load:
            for name in REBUILT + ANALYTICS:
                started = admin.post(f"/admin/projections/{name}/rebuild")
                assert started.status_code == 202, started.text
                assert started.json()["target"] == f"{name}_g2"
                again = admin.post(f"/admin/projections/{name}/rebuild")
                assert again.status_code in (202, 409), again.text
                progress = wait_rebuild(admin, name)
                assert progress["state"] == "switched", progress
                assert progress["percent"] == 100.0
        assert load.problems == [], load.problems[:5]
        assert load.reads > 100
        # Every read model, analytics included, is a copy the workers fold and promote:
        # every API process reports the same switch.
        deadline = time.monotonic() + 30
        while True:
            status = admin.get("/status").json()
            by_name = {p["name"]: p for p in status["projections"]}
            states = {name: by_name[name]["rebuild"]["state"] for name in REBUILT + ANALYTICS}
            if set(states.values()) == {"switched"} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for name in REBUILT + ANALYTICS:
            assert by_name[name]["rebuild"]["state"] == "switched", by_name[name]
        # Every API process serves the new copies: each answers at a version past the
        # rebuild's switch, from the new namespace (checked by the fold comparison).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = admin.get("/status").json()
            if all(p["checkpoint"] >= status["head"] for p in status["projections"]):
                break
            time.sleep(0.2)

    assert deployment.write_db is not None and deployment.read_db is not None
    problems = asyncio.run(
        differences(
            deployment.write_db.url,
            deployment.read_db.url,
            deployment.prefix,
            PARTITIONS,
            dict.fromkeys(REBUILT, 2),
        )
    )
    assert problems == [], problems[:5]
    _assert_old_copies_dropped(deployment)


# The first copies' tables in the read database (`<name>_v<version>_…`).
TABLE_PREFIXES = [
    table_prefix(projection)
    for projection in (
        PostgresProductSearchProjection,
        PostgresSalesAnalyticsProjection,
        PostgresPriceHistoryProjection,
    )
]


def _assert_old_copies_dropped(deployment: ServicesDeployment, timeout: float = 60) -> None:
    """The first copies' keys, tables and checkpoints go once the grace has passed, and
    the new copies' tables are there."""
    assert deployment.read_db is not None
    client = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while True:
            old_keys = [
                key
                for name in REBUILT
                if name != "product_search"
                for key in client.scan_iter(match=f"{deployment.prefix}:{name}:*", count=1000)
            ] + [
                key
                for i in range(PARTITIONS["product_detail"])
                for key in client.scan_iter(
                    match=f"{deployment.prefix}:product_detail.p{i}:*", count=1000
                )
            ]
            old_tables = [
                table
                for prefix in TABLE_PREFIXES
                for table in asyncio.run(_tables(deployment.read_db.url, f"{prefix}_"))
            ]
            if not old_keys and not old_tables:
                break
            assert time.monotonic() < deadline, (old_keys[:3], old_tables)
            time.sleep(0.5)
        for prefix in TABLE_PREFIXES:
            name, version = prefix.rsplit("_v", 1)
            new = asyncio.run(_tables(deployment.read_db.url, f"{name}_g2_v{version}_"))
            assert new, f"the new copy of {name} has no tables"
    finally:
        client.close()


async def _tables(url: str, prefix: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE left(tablename, length($1)) = $1", prefix
        )
        return [str(r["tablename"]) for r in rows]
    finally:
        await conn.close()


def test_refusals_and_cancel(deployment: ServicesDeployment) -> None:
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        assert client.post("/admin/projections/product_search/rebuild").status_code == 401
        client.headers.update(ADMIN)
        assert client.post("/admin/projections/nope/rebuild").status_code == 404
        assert client.delete("/admin/projections/order_view/rebuild").status_code == 404
        assert client.post("/admin/projections/order_view/rebuild").status_code == 202
        cancelled = client.delete("/admin/projections/order_view/rebuild")
        state = wait_rebuild(client, "order_view")["state"]
        # A model this small may be promoted before the cancel arrives.
        assert (cancelled.status_code, state) in ((200, "cancelled"), (404, "switched"))
        assert client.get("/orders/" + str(uuid.uuid4())).status_code == 404
        if state == "cancelled":
            again = client.post("/admin/projections/order_view/rebuild")
            assert again.status_code == 202 and again.json()["target"] == "order_view_g3"
            assert wait_rebuild(client, "order_view")["state"] == "switched"


def test_the_cli_follows_a_rebuild_to_its_switch(deployment: ServicesDeployment) -> None:
    with httpx.Client(base_url=deployment.url, headers=ADMIN, timeout=30) as client:
        _history(client, 3)
    env = deployment.env
    done = subprocess.run(
        [sys.executable, "-m", "catalog", "rebuild", "category_stats", "--url", deployment.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "category_stats switched to category_stats_g2" in done.stderr
    table = run_cli({**env, "COLUMNS": "200"}, "status", "--url", deployment.url)
    assert "category_stats" in table and "switched" in table
    status = httpx.get(f"{deployment.url}/status", timeout=10).json()
    row = next(p for p in status["projections"] if p["name"] == "category_stats")
    assert row["rebuild"]["state"] == "switched" and row["version"] == 1
