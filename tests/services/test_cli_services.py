"""`tandem migrate` and `tandem up` on the machine's PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import ServicesDeployment
from tests.support.server import ADMIN_TOKEN, free_port

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


def test_migrate_applies_each_migration_once(tmp_path: Path) -> None:
    deployment = ServicesDeployment(tmp_path / "data")
    try:
        deployment.prepare()  # runs `tandem migrate`
        done = subprocess.run(
            [sys.executable, "-m", "catalog", "migrate"],
            env=deployment.env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "the write database is current" in done.stderr
    finally:
        deployment.stop()


def test_services_commands_refuse_the_embedded_profile(tmp_path: Path) -> None:
    env = {**os.environ, "TANDEM_DATA_DIR": str(tmp_path)}
    env.pop("TANDEM_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "catalog", "worker"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "postgresql://" in done.stderr


def test_up_serves_with_live_workers_and_stops_every_child(tmp_path: Path) -> None:
    deployment = ServicesDeployment(tmp_path / "data")
    deployment.prepare()
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "catalog", "up", "--workers", "2", "--port", str(port)],
        env=deployment.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        version = None
        while time.monotonic() < deadline and version is None:
            time.sleep(0.2)
            try:
                version = httpx.post(
                    f"{url}/categories",
                    json={"name": "Up"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                ).json()["version"]
            except httpx.HTTPError:
                continue
        live = False
        while time.monotonic() < deadline and not live:
            status = httpx.get(f"{url}/status").json()
            live = all(
                p["state"] == "live" and p["checkpoint"] >= version for p in status["projections"]
            )
            time.sleep(0.1)
        assert live, "tandem up did not bring every projection live"
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)
        leftovers = subprocess.run(
            ["pgrep", "-s", str(up.pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in leftovers:
            os.kill(int(pid), signal.SIGKILL)
        deployment.stop()
    assert leftovers == [], "children outlived tandem up"


def test_status_reads_the_stores_when_no_server_answers(tmp_path: Path) -> None:
    deployment = ServicesDeployment(tmp_path / "data", apis=1, workers=1)
    deployment.start()
    try:
        with httpx.Client(base_url=deployment.url) as client:
            version = client.post(
                "/categories",
                json={"name": "Status"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ).json()["version"]
            assert client.get("/categories", params={"min_version": version}).status_code == 200
        done = subprocess.run(
            [sys.executable, "-m", "catalog", "status", "--url", "http://127.0.0.1:9"],
            env={**deployment.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert "category_stats" in done.stdout and str(version) in done.stdout
    finally:
        deployment.stop()
