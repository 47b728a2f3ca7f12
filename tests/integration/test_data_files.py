"""The embedded profile's data directory is its owner's alone: files 0600, folders 0700."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
from tests.support.server import ADMIN_TOKEN, Server, run_cli


def modes(root: Path) -> dict[str, str]:
    """Every path under `root` (and `root` itself) with its permission bits."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def wait_for_switch(url: str, name: str) -> None:
    """Until the rebuild of `name` has switched to its new copy (a pointer file)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = httpx.get(f"{url}/status").json()["projections"]
        rebuild = next(row for row in rows if row["name"] == name).get("rebuild") or {}
        if rebuild.get("state") == "switched":
            return
        time.sleep(0.1)
    raise AssertionError(f"the rebuild of {name} did not switch")


def test_a_fresh_data_directory_is_private_after_seed_start_and_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "TANDEM_DATA_DIR": str(data)}
    env.pop("TANDEM_ADMIN_TOKEN", None)  # the generated one is kept in the directory too
    run_cli(env, "seed", "--products", "30")
    server = Server(data, {"TANDEM_ADMIN_TOKEN": ""})
    server.start()
    try:
        token = (data / "admin-token").read_text().strip()
        assert token != ADMIN_TOKEN
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{server.url}/categories", json={"name": "Private"}, headers=auth)
        assert created.status_code == 201, created.text
        # Every read model (the DuckDB ones write a journal of their own) has the write.
        version = created.json()["version"]
        for path in ("/categories", "/analytics/sales"):
            read = httpx.get(f"{server.url}{path}", params={"min_version": version}, timeout=10)
            assert read.status_code == 200, read.text
        rebuilt = httpx.post(
            f"{server.url}/admin/projections/sales_analytics/rebuild", headers=auth
        )
        assert rebuilt.status_code == 202, rebuilt.text
        wait_for_switch(server.url, "sales_analytics")
        found = modes(data)
    finally:
        server.stop()
    expected_files = {"write.db", "write.db-wal", "write.db-shm", "admin-token"}
    assert expected_files <= set(found), found
    assert any(name.endswith(".duckdb") for name in found), found
    wrong = {
        name: mode
        for name, mode in found.items()
        if mode != (oct(0o700) if (data / name).is_dir() else oct(0o600))
    }
    assert wrong == {}, f"not private: {wrong}"


def test_a_data_directory_a_token_creates_first_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "TANDEM_DATA_DIR": str(data)}
    run_cli(env, "token", "create", "--subject", "alice", "--scopes", "orders")
    found = modes(data)
    assert "write.db" in found, found
    wrong = {
        name: mode
        for name, mode in found.items()
        if mode != (oct(0o700) if (data / name).is_dir() else oct(0o600))
    }
    assert wrong == {}, f"not private: {wrong}"
