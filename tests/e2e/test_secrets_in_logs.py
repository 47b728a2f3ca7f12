"""No secrets in logs: a whole deployment's output never holds a token or a password.

A deployment of the profile runs a full flow (admin writes, a customer's cart and
checkout, refused and forged tokens, reads), its API servers, workers and relays
writing their logs to files; once stopped, every line of every log is searched for
each token, for `Bearer `, and for the database password. On the services profile the
write database's URL carries a password (the machine's PostgreSQL trusts local
connections, so any password connects), which must not appear anywhere either.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import Deployment, deploy
from tests.support.deployment import ServicesDeployment
from tests.support.server import ADMIN_TOKEN

DB_PASSWORD = f"pw-{uuid.uuid4().hex}"
FORGED = f"tdm_forged{uuid.uuid4().hex}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _with_password(url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}:{DB_PASSWORD}@{parts.hostname}:{parts.port or 5432}"
    return parts._replace(netloc=netloc).geturl()


@dataclasses.dataclass
class Run:
    server: Deployment
    logs_dir: Path
    secrets: dict[str, str]


@pytest.fixture(scope="module")
def run(profile: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root: Path = tmp_path_factory.mktemp("secrets")
    server = deploy(profile, root / "data")
    secrets = {"admin token": ADMIN_TOKEN, "forged token": FORGED}
    try:
        if isinstance(server, ServicesDeployment):
            server.prepare()
            assert server.write_db is not None
            server.write_db = dataclasses.replace(
                server.write_db, url=_with_password(server.write_db.url)
            )
            secrets["database password"] = DB_PASSWORD
            for url in (server.env["TANDEM_REDIS_URL"], server.env.get("TANDEM_NATS_URL", "")):
                password = urlsplit(url).password
                if password:
                    secrets[f"password of {url.split(':')[0]}"] = password
        customer = server.cli("token", "create", "--subject", "carol", "--scopes", "orders")
        secrets["customer token"] = customer
        server.start()
        _flow(server, customer)
    finally:
        server.stop()
    yield Run(server, root, secrets)


def _flow(server: Deployment, customer: str) -> None:
    """Every kind of authorized and refused call, and the reads they feed."""
    admin, carol = bearer(ADMIN_TOKEN), bearer(customer)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        category = client.post("/categories", json={"name": "Secrets"}, headers=admin)
        assert category.status_code == 201, category.text
        product = client.post(
            "/products",
            json={
                "sku": "SECRET-1",
                "name": "Locked box",
                "category_id": category.json()["id"],
                "price": "12.00",
                "initial_stock": 5,
            },
            headers={**admin, "Idempotency-Key": "secret-create"},
        )
        assert product.status_code == 201, product.text
        product_id = product.json()["id"]
        cart = str(uuid.uuid4())
        line = {"product_id": product_id, "quantity": 2}
        added = client.post(f"/carts/{cart}/items", json=line, headers=carol)
        assert added.status_code == 200, added.text
        order = client.post(f"/carts/{cart}/checkout", headers=carol)
        assert order.status_code == 201, order.text
        version = order.json()["version"]
        seen = client.get(
            f"/orders/{order.json()['id']}", params={"min_version": version, "wait_ms": 10_000}
        )
        assert seen.status_code == 401  # the cookie alone is no credential
        seen = client.get(
            f"/orders/{order.json()['id']}",
            params={"min_version": version, "wait_ms": 10_000},
            headers=carol,
        )
        assert seen.status_code == 200, seen.text
        # Refused: a forged token, a customer reaching for admin, malformed headers.
        refused = [
            client.post("/categories", json={"name": "x"}, headers=bearer(FORGED)),
            client.post(f"/products/{product_id}/stock-adjustments", json={}, headers=carol),
            client.post("/admin/projections/category_stats/rebuild", headers=carol),
            client.get(f"/carts/{cart}", headers={"Authorization": f"Basic {customer}"}),
            client.get(f"/carts/{cart}", headers=bearer(customer + "x")),
        ]
        assert [r.status_code for r in refused] == [401, 403, 403, 401, 401]
        # An admin operation and a bad request carrying a valid token.
        rebuild = client.post("/admin/projections/category_stats/rebuild", headers=admin)
        assert rebuild.status_code in (202, 409), rebuild.text
        bad = client.post("/products", content=b"{not json", headers=admin)
        assert bad.status_code in (400, 422)
        assert client.get(
            f"/products/{product_id}", params={"min_version": version, "wait_ms": 10_000}
        ).is_success


def _log_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.log") if path.is_file())


def test_the_flow_left_logs_to_search(run: Run) -> None:
    files = _log_files(run.logs_dir)
    assert files, f"no log files under {run.logs_dir}"
    assert sum(path.stat().st_size for path in files) > 0
    if isinstance(run.server, ServicesDeployment):
        names = {path.name.split("-")[0] for path in files}
        assert {"server", "worker"} <= names, names


def test_no_secret_in_any_log_line(run: Run) -> None:
    needles = {**run.secrets, "bearer credentials": "Bearer "}
    leaks: list[str] = []
    lines = 0
    for path in _log_files(run.logs_dir):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            for what, secret in needles.items():
                if secret.lower() in line.lower():
                    leaks.append(f"{path.name}:{number}: {what}: {line[:300]}")
    assert lines > 0
    assert not leaks, "\n".join(leaks)
