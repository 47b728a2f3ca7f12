"""Bearer tokens with a lifecycle, on a real deployment of each profile.

Tokens made over HTTP (`/admin/tokens`) or by `tandem token create` work at once, in
every API process, without a restart; the list never shows a secret; a revoked or
expired token is refused by every API process once the verified-token cache (at most
`CACHE_SECONDS` old) has let go of it; reserved subjects are refused; failed
authentication from one address is answered 429 after the configured number of
failures, without checking the token, while public reads go on.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, deploy
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# How long an API process may keep trusting a token it verified (documented bound).
CACHE_SECONDS = 1.0
# Requests enough for the round-robin proxy to reach every API process at least twice.
EVERY_PROCESS = 6
RESERVED = ["admin", "Admin", "", "   ", "ali\x07ce", "tab\tbed", "x" * 300]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(server: Deployment) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def _issue(client: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = client.post("/admin/tokens", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _write_status(client: httpx.Client, token: str) -> int:
    """The status of a write that needs `catalog:write` (201 with a valid token)."""
    client.cookies.clear()
    answer = client.post("/categories", json={"name": "Tokened"}, headers=bearer(token))
    return answer.status_code


def _refused_everywhere(client: httpx.Client, token: str) -> list[int]:
    return [_write_status(client, token) for _ in range(EVERY_PROCESS)]


def test_a_token_made_over_http_works_at_once_and_its_secret_is_shown_once(
    client: httpx.Client,
) -> None:
    made = _issue(client, subject=f"writer-{uuid.uuid4().hex[:6]}", scopes=["catalog:write"])
    assert made["token"].startswith("tdm_")
    assert made["id"] and made["id"] not in made["token"]
    assert made["revoked_at"] is None and made["expires_at"] is None
    assert made["state"] == "active"
    assert [_write_status(client, made["token"]) for _ in range(EVERY_PROCESS)] == [
        201
    ] * EVERY_PROCESS
    listed = client.get("/admin/tokens", headers=ADMIN)
    assert listed.status_code == 200
    assert made["token"] not in listed.text
    mine = [t for t in listed.json()["tokens"] if t["id"] == made["id"]]
    assert len(mine) == 1 and "token" not in mine[0]
    assert mine[0]["subject"] == made["subject"] and mine[0]["scopes"] == ["catalog:write"]


def test_a_token_made_by_the_cli_works_without_a_restart(
    server: Deployment, client: httpx.Client
) -> None:
    token = server.cli("token", "create", "--subject", "late-writer", "--scope", "catalog:write")
    assert [_write_status(client, token) for _ in range(EVERY_PROCESS)] == [201] * EVERY_PROCESS


def test_a_revoked_token_is_refused_by_every_api_process(client: httpx.Client) -> None:
    made = _issue(client, subject="revoked-writer", scopes=["catalog:write"])
    assert _refused_everywhere(client, made["token"]) == [201] * EVERY_PROCESS
    revoked = client.delete(f"/admin/tokens/{made['id']}", headers=ADMIN)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked" and revoked.json()["revoked_at"]
    time.sleep(CACHE_SECONDS + 0.5)
    assert _refused_everywhere(client, made["token"]) == [401] * EVERY_PROCESS
    listed = {t["id"]: t for t in client.get("/admin/tokens", headers=ADMIN).json()["tokens"]}
    assert listed[made["id"]]["state"] == "revoked"


def test_the_cli_lists_and_revokes_tokens(server: Deployment, client: httpx.Client) -> None:
    made = _issue(client, subject="cli-revoked", scopes=["catalog:write"])
    listing = server.cli("token", "list", "--json")
    assert made["id"] in listing and made["token"] not in listing
    server.cli("token", "revoke", made["id"])
    time.sleep(CACHE_SECONDS + 0.5)
    assert _refused_everywhere(client, made["token"]) == [401] * EVERY_PROCESS


def test_an_expired_token_is_refused(client: httpx.Client) -> None:
    made = _issue(client, subject="brief", scopes=["catalog:write"], expires_in=3)
    assert made["expires_at"] is not None
    assert _write_status(client, made["token"]) == 201
    expires = datetime.fromisoformat(made["expires_at"]).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    assert _refused_everywhere(client, made["token"]) == [401] * EVERY_PROCESS


@pytest.mark.parametrize("subject", RESERVED, ids=range(len(RESERVED)))
def test_a_reserved_or_malformed_subject_is_a_422_problem(
    client: httpx.Client, subject: str
) -> None:
    before = client.get("/admin/tokens", headers=ADMIN).json()["tokens"]
    answer = client.post(
        "/admin/tokens", json={"subject": subject, "scopes": ["orders"]}, headers=ADMIN
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/admin/tokens", headers=ADMIN).json()["tokens"] == before


@pytest.mark.parametrize("subject", ["admin", " ", "ali\x07ce"], ids=["admin", "blank", "control"])
def test_the_cli_refuses_a_reserved_subject_with_exit_code_2(
    server: Deployment, subject: str
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "catalog",
            "token",
            "create",
            "--subject",
            subject,
            "--scopes",
            "orders",
        ],
        env=server.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "subject" in done.stderr
    assert "Traceback" not in done.stderr
    assert not done.stdout.strip()


LIMIT = 3


@pytest.fixture(scope="module")
def throttled(profile: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A deployment that answers 429 after `LIMIT` failed authentications per address."""
    data: Path = tmp_path_factory.mktemp("throttled") / "data"
    deployment = deploy(profile, data, {"TANDEM_AUTH_FAILURES": str(LIMIT)})
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


def test_failed_authentication_is_answered_429_without_checking_the_token(
    throttled: Deployment,
) -> None:
    with httpx.Client(base_url=throttled.url, timeout=30) as http:
        forged = bearer("tdm_" + "F" * 43)
        # Every API process sees at least `LIMIT` failures (round robin on services).
        answers = [
            http.post("/categories", json={"name": "x"}, headers=forged)
            for _ in range(EVERY_PROCESS)
        ]
        assert [a.status_code for a in answers[:LIMIT]] == [401] * LIMIT
        for _ in range(EVERY_PROCESS):
            # Even the right token is not checked while the address is held back.
            refused = http.post("/categories", json={"name": "x"}, headers=ADMIN)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
        # Public reads are not authentication: they go on.
        assert http.get("/products").status_code == 200
