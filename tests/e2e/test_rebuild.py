"""Blue/green rebuilds of every read model under continuous writes and reads (embedded).

While a writer keeps changing prices and stock and readers keep querying every read
model at the version they had seen before the rebuild began, each read model is rebuilt
in turn through `POST /admin/projections/{name}/rebuild`. No read may fail or go back
in time; after the switch the read model must equal a fold of the whole log.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from catalog.settings import Settings
from tests.support.load import Load, wait_rebuild
from tests.support.readmodels import dump_live, rebuild
from tests.support.server import ADMIN_TOKEN, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ALL_ASYNC = "product_detail=async,cart_view=async"
READ_MODELS = [
    "product_detail",
    "product_search",
    "category_stats",
    "cart_view",
    "order_view",
    "sales_analytics",
    "price_history",
]


def _history(client: httpx.Client, products: int) -> tuple[str, list[str], str]:
    category = client.post("/categories", json={"name": "Rebuilt"}).json()["id"]
    ids = [
        client.post(
            "/products",
            json={
                "sku": f"RB-{i}",
                "name": f"Lamp {i}",
                "category_id": category,
                "price": f"{10 + i}.00",
                "initial_stock": 50,
            },
        ).json()["id"]
        for i in range(products)
    ]
    cart = str(uuid.uuid4())
    client.post(f"/carts/{cart}/items", json={"product_id": ids[0], "quantity": 1})
    order = client.post(f"/carts/{cart}/checkout").json()["id"]
    return category, ids, order


def _reads(category: str, product: str, order: str, cart: str) -> dict[str, str]:
    return {
        "product_detail": f"/products/{product}",
        "product_search": "/products?q=lamp&limit=5",
        "category_stats": f"/categories/{category}/stats",
        "cart_view": f"/carts/{cart}",
        "order_view": f"/orders/{order}",
        "sales_analytics": "/analytics/sales",
        "price_history": f"/products/{product}/price-history",
    }


def test_every_read_model_rebuilds_under_load_without_a_failed_or_older_read(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = Server(data, env={"TANDEM_PROJECTION_MODES": ALL_ASYNC})
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            category, ids, order = _history(client, 40)
            cart = str(uuid.uuid4())
            client.post(f"/carts/{cart}/items", json={"product_id": ids[1], "quantity": 2})
        paths = _reads(category, ids[1], order, cart)
        rng = random.Random(3)

        def write(client: httpx.Client, _step: int) -> list[httpx.Response]:
            price = f"{rng.randint(100, 9999) / 100:.2f}"
            return [client.put(f"/products/{rng.choice(ids)}/price", json={"price": price})]

        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as admin:
            head = admin.get("/status").json()["head"]
            with Load(server.url, paths, head, write) as load:
                for name in READ_MODELS:
                    started = admin.post(f"/admin/projections/{name}/rebuild")
                    assert started.status_code == 202, started.text
                    again = admin.post(f"/admin/projections/{name}/rebuild")
                    # Refused while the first runs; a small model may have switched already.
                    assert again.status_code in (202, 409), again.text
                    progress = wait_rebuild(admin, name)
                    assert progress["state"] == "switched", progress
                    assert int(str(progress["checkpoint"])) >= head
            assert load.problems == [], load.problems[:5]
            assert load.reads > 100
            status = admin.get("/status").json()
            assert {r["projection"] for r in status["rebuilds"]} == set(READ_MODELS)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = admin.get("/status").json()
                if all(p["checkpoint"] == status["head"] for p in status["projections"]):
                    break
                time.sleep(0.1)
    finally:
        server.stop()
    settings = Settings(data_dir=data, modes=dict(p.split("=") for p in ALL_ASYNC.split(",")))
    live = dump_live(settings)
    rebuilt = rebuild(settings, tmp_path / "rebuilt")
    for name in READ_MODELS:
        assert live[name] == rebuilt[name], f"{name} differs from a fold of the log"
    # Only the live copy of each read model is left on disk, the one its pointer names.
    folder = data / "read"
    for name in READ_MODELS:
        pointer = (folder / f"{name}.live").read_text().strip()
        copies = [
            p.name
            for p in folder.iterdir()
            if p.name.startswith(f"{name}.") and p.suffix in (".db", ".duckdb")
        ]
        assert copies == [pointer], (name, copies)


def test_rebuild_refusals_and_cancel(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.post("/admin/projections/product_search/rebuild").status_code == 401
            client.headers.update(ADMIN)
            assert client.post("/admin/projections/nope/rebuild").status_code == 404
            assert client.delete("/admin/projections/product_search/rebuild").status_code == 404
            assert client.post("/admin/projections/product_search/rebuild").status_code == 202
            cancelled = client.delete("/admin/projections/product_search/rebuild")
            deadline = time.monotonic() + 5
            state = "running"
            while state == "running" and time.monotonic() < deadline:
                state = client.get("/admin/projections/product_search/rebuild").json()["state"]
            # A model this small may switch before the cancel arrives; either way it serves.
            assert (cancelled.status_code, state) in ((200, "cancelled"), (404, "switched"))
            assert client.get("/products?q=x").status_code == 200
            folder = tmp_path / "data" / "read"
            leftovers = [p.name for p in folder.iterdir() if ".g" in p.name and "search" in p.name]
            assert state == "switched" or leftovers == []
    finally:
        server.stop()


def _tandem_rebuild(server: Server, name: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "catalog", "rebuild", name, "--url", server.url]
    return subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=60)


def test_tandem_rebuild_follows_progress_to_the_switch(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            _history(client, 20)
        done = _tandem_rebuild(server, "category_stats")
        assert done.returncode == 0, done.stderr
        assert "category_stats switched to category_stats.g2.db" in done.stderr
        sync = _tandem_rebuild(server, "product_detail")  # new tables in the write database
        assert sync.returncode == 0, sync.stderr
        assert "product_detail switched to product_detail_g2" in sync.stderr
        status = subprocess.run(
            [sys.executable, "-m", "catalog", "status", "--url", server.url],
            env={**server.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        detail = next(line for line in status.stdout.splitlines() if "product_detail" in line)
        assert "v1" in detail and "switched" in detail
    finally:
        server.stop()
