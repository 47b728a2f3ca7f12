"""Security headers on a real `tandem serve`: a Content-Security-Policy on every page that
its scripts and styles satisfy without 'unsafe-inline', and no response sniffable."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    server = Server(tmp_path_factory.mktemp("headers") / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            yield http
    finally:
        server.stop()


@pytest.fixture(scope="module")
def product(client: httpx.Client) -> str:
    category = client.post("/categories", json={"name": "Hats"}, headers=ADMIN).json()["id"]
    created = client.post(
        "/products",
        json={"sku": "HAT-1", "name": "Hat", "category_id": category, "price": "9.50"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers.get("content-security-policy", "")
    found = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _, value = part.partition(" ")
        found[name] = value
    return found


def assert_page_policy(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("text/html")
    policy = directives(response)
    assert policy.get("frame-ancestors") == "'none'", policy
    assert policy.get("default-src") == "'none'", policy
    assert policy.get("object-src", "'none'") == "'none'"
    assert policy.get("base-uri") == "'none'", policy
    for name, value in policy.items():
        assert "unsafe-inline" not in value and "unsafe-eval" not in value, (name, value)
        assert "*" not in value.split() and "http:" not in value and "https:" not in value
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    return policy


def test_every_page_has_a_strict_policy(client: httpx.Client, product: str) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for path, status in [
        ("/", 200),
        ("/ops", 200),
        (f"/products/{product}/view", 200),
        (f"/products/{missing}/view", 404),
        ("/docs", 200),
        ("/redoc", 200),
    ]:
        page = client.get(path)
        assert page.status_code == status, (path, page.text)
        assert_page_policy(page)


def test_pages_carry_no_inline_script_style_or_handler(client: httpx.Client, product: str) -> None:
    for path in ("/", "/ops", f"/products/{product}/view", "/docs", "/redoc"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), (path, html)
        assert "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def test_docs_load_their_assets_from_this_server(client: httpx.Client) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assert "://" not in html.replace("http://www.w3.org", ""), (path, html)
        assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
        assert any(asset.endswith(".js") for asset in assets), html
        for asset in assets:
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
            assert loaded.headers["x-content-type-options"] == "nosniff"


def test_redoc_styles_need_the_page_nonce_which_changes_each_time(client: httpx.Client) -> None:
    first, second = (directives(client.get("/redoc")) for _ in range(2))
    nonces = [re.search(r"'nonce-([^']+)'", p.get("style-src", "")) for p in (first, second)]
    assert all(nonces), (first, second)
    assert nonces[0] and nonces[1] and nonces[0].group(1) != nonces[1].group(1)


def test_every_other_response_is_not_sniffed_nor_framed(client: httpx.Client, product: str) -> None:
    # The hot read and command paths answer with a constant nosniff alone.
    hot = [
        client.get(f"/products/{product}"),
        client.get("/products", params={"q": "hat"}),
        client.put(f"/products/{product}/price", json={"price": "9.90"}, headers=ADMIN),
        client.get(f"/products/{product}", params={"min_version": "x"}),
    ]
    routed = [
        client.get("/products", params={"min_price": "1"}),
        client.put(f"/products/{product}/price", json={"price": "-1"}, headers=ADMIN),
        client.get("/status"),
        client.get("/openapi.json"),
        client.get("/nowhere"),
        client.get("/static/style.css"),
        client.get("/metrics"),
    ]
    assert [r.status_code for r in hot] == [200, 200, 200, 400]
    for response in hot + routed:
        assert response.headers.get("x-content-type-options") == "nosniff", (
            response.request.url,
            response.headers,
        )
    for response in routed:
        # Nothing else served here may run as a page, or be framed.
        policy = directives(response)
        assert policy.get("default-src") == "'none'", (response.request.url, policy)
        assert policy.get("frame-ancestors") == "'none'"
        assert response.headers["referrer-policy"] == "no-referrer"
