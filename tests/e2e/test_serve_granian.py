"""`tandem serve --server granian`: the app's lifespan, the hot read path, live streams
and shutdown under granian; and the embedded profile refusing several processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_granian_serves_reads_streams_and_stops(tmp_path: Path) -> None:
    pytest.importorskip("granian")
    server = Server(tmp_path / "data", {"TANDEM_SERVER": "granian"})
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as client:
            category = client.post("/categories", json={"name": "Served"}).json()["id"]
            created = client.post(
                "/products",
                json={
                    "sku": "GR-1",
                    "name": "Granite",
                    "category_id": category,
                    "price": "5.00",
                    "initial_stock": 2,
                },
            )
            product_id = created.json()["id"]
            read = client.get(f"/products/{product_id}")
            assert read.status_code == 200
            assert read.headers["server"] == "granian"
            assert int(read.headers["x-read-version"]) >= created.json()["version"]
            again = client.get(
                f"/products/{product_id}", headers={"If-None-Match": read.headers["etag"]}
            )
            assert again.status_code == 304

            events: list[str] = []

            def listen() -> None:
                with httpx.stream(
                    "GET", f"{server.url}/stream/products/{product_id}", timeout=10
                ) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data:"):
                            events.append(line)
                            if len(events) == 2:
                                return

            listener = threading.Thread(target=listen)
            listener.start()
            deadline = 50
            while not events and deadline:
                listener.join(0.1)
                deadline -= 1
            changed = client.put(f"/products/{product_id}/price", json={"price": "6.00"})
            assert changed.status_code == 200
            listener.join(10)
            assert len(events) == 2, events
            assert '"price":"6.00"' in events[1]
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/readyz", timeout=2)


def test_the_embedded_profile_refuses_several_processes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "catalog", "serve", "--workers", "2"],
        env={
            "TANDEM_DATA_DIR": str(tmp_path),
            "TANDEM_ADMIN_TOKEN": ADMIN_TOKEN,
            "COLUMNS": "200",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "one process" in done.stderr
