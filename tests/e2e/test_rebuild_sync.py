"""Blue/green rebuilds of the sync read models (product detail and cart view, the
default) under continuous writes and reads, on the embedded profile.

Their new copies are tables of the write database, folded beside the live ones while
commands keep committing; the switch happens inside a write transaction. Product detail
is rebuilt twice (a third generation replaces the second). No read may fail or go back
in time; afterwards each read model equals a fold of the log and only the live copy's
tables are left.
"""

from __future__ import annotations

import random
import sqlite3
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
REBUILDS = ["product_detail", "cart_view", "product_detail"]


def _history(client: httpx.Client, products: int) -> tuple[str, list[str], str]:
    category = client.post("/categories", json={"name": "Rebuilt"}).json()["id"]
    ids = [
        client.post(
            "/products",
            json={
                "sku": f"RS-{i}",
                "name": f"Lamp {i}",
                "category_id": category,
                "price": f"{10 + i}.00",
                "initial_stock": 50,
            },
        ).json()["id"]
        for i in range(products)
    ]
    cart = str(uuid.uuid4())
    for product in ids[:5]:
        client.post(f"/carts/{cart}/items", json={"product_id": product, "quantity": 2})
    return category, ids, cart


def test_sync_read_models_rebuild_under_load_without_a_failed_or_older_read(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = Server(data)
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            category, ids, cart = _history(client, 1000)
        paths = {
            "product_detail": f"/products/{ids[1]}",
            "cart_view": f"/carts/{cart}",
            "product_search": "/products?q=lamp&limit=5",
            "category_stats": f"/categories/{category}/stats",
        }
        rng = random.Random(7)
        moving = str(uuid.uuid4())

        def write(client: httpx.Client, step: int) -> list[httpx.Response]:
            price = f"{rng.randint(100, 9999) / 100:.2f}"
            answers = [client.put(f"/products/{rng.choice(ids)}/price", json={"price": price})]
            line = f"/carts/{moving}/items"
            if step % 2 == 0:
                answers.append(client.post(line, json={"product_id": ids[0], "quantity": 1}))
            else:
                answers.append(client.delete(f"{line}/{ids[0]}"))
            return answers

        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as admin:
            head = admin.get("/status").json()["head"]
            load = Load(server.url, paths, head, write, pause=0.002)
            with load:
                load.wait_running()  # the load is on before the first rebuild begins
                for name in REBUILDS:
                    before = admin.get("/status").json()["head"]
                    started = admin.post(f"/admin/projections/{name}/rebuild")
                    assert started.status_code == 202, started.text
                    progress = wait_rebuild(admin, name)
                    assert progress["state"] == "switched", progress
                    # Commands kept committing while the copy was folded: the switch
                    # folded events written after the rebuild began.
                    assert int(str(progress["checkpoint"])) > before
                    time.sleep(2.5)  # past the grace period: the old tables are dropped
            assert load.problems == [], load.problems[:5]
            assert load.reads > 100
            status = admin.get("/status").json()
            rows = {p["name"]: p for p in status["projections"]}
            for name in ("product_detail", "cart_view"):
                assert rows[name]["mode"] == "sync" and rows[name]["state"] == "live"
                assert rows[name]["version"] == 1
                assert rows[name]["rebuild"]["state"] == "switched"
                assert rows[name]["checkpoint"] == status["head"]
            assert rows["product_detail"]["rebuild"]["target"] == "product_detail_g3"
            assert rows["cart_view"]["rebuild"]["target"] == "cart_view_g2"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = admin.get("/status").json()
                if all(p["checkpoint"] == status["head"] for p in status["projections"]):
                    break
                time.sleep(0.1)
    finally:
        server.stop()
    settings = Settings(data_dir=data)
    live = dump_live(settings)
    rebuilt = rebuild(settings, tmp_path / "rebuilt")
    for name in live:
        assert live[name] == rebuilt[name], f"{name} differs from a fold of the log"
    # Only the live copies' tables are left in the write database.
    conn = sqlite3.connect(settings.write_database)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    copies = conn.execute(
        "SELECT projection, generation, state FROM tandem_generations ORDER BY projection"
    ).fetchall()
    conn.close()
    assert copies == [("cart_view", 2, "live"), ("product_detail", 3, "live")]
    for table in ("product_detail", "pd_categories", "cv_carts", "cv_lines", "cv_products"):
        assert table not in tables
    assert {"product_detail_g3", "pd_categories_g3", "cv_carts_g2", "cv_lines_g2"} <= tables
    assert not {"product_detail_g2", "pd_categories_g2"} & tables
