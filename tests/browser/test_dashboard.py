"""The sales dashboard in a real headless Chromium against `tandem serve`: its figures
move when an order is checked out through the API, with no reload, no console error,
and no horizontal scroll down to a 360-pixel-wide screen."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser.chromium import ARTIFACTS, serving
from tests.support.server import ADMIN_TOKEN, Server


@dataclass(frozen=True)
class Shop:
    url: str
    api: httpx.Client
    lamps: str
    kettle: str
    lamp: str


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with serving(tmp_path_factory.mktemp("dashboard") / "data") as server:
        yield _stock(server)


def _stock(server: Server) -> Shop:
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    )
    lamps = _post(api, "/categories", {"name": "Lamps"})["id"]
    kitchen = _post(api, "/categories", {"name": "Kitchen"})["id"]
    ids = {}
    for sku, name, category, price in (
        ("LAMP-1", "Desk lamp", lamps, "24.00"),
        ("KETTLE-1", "Electric kettle", kitchen, "39.50"),
    ):
        body = {"sku": sku, "name": name, "category_id": category, "price": price}
        ids[name] = _post(api, "/products", {**body, "initial_stock": 20})["id"]
    return Shop(server.url, api, lamps, ids["Electric kettle"], ids["Desk lamp"])


def _post(api: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def checkout(shop: Shop, lines: dict[str, int]) -> dict[str, Any]:
    """A cart with `lines` (product id → quantity), checked out through the API."""
    cart = str(uuid.uuid4())
    for product_id, quantity in lines.items():
        _post(shop.api, f"/carts/{cart}/items", {"product_id": product_id, "quantity": quantity})
    return _post(shop.api, f"/carts/{cart}/checkout")


@pytest.fixture
def page(browser: Browser, shop: Shop) -> Iterator[Page]:
    context = browser.new_context(base_url=shop.url, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{message.text} {message.location.get('url', '')}")

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert errors == []
    context.close()


def no_horizontal_scroll(page: Page) -> bool:
    overflow: bool = page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    return overflow


def test_the_dashboard_follows_checkouts_live(page: Page, shop: Shop) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sales").click()
    expect(page).to_have_url(f"{shop.url}/dashboard")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#total-orders")).to_have_text("0")
    expect(page.locator('.empty[data-for="products"]')).to_be_visible()
    expect(page.locator("#days-chart rect.bar")).to_have_count(30)

    placed = checkout(shop, {shop.kettle: 2, shop.lamp: 1})
    assert placed["total"] == "103.00"
    expect(page.locator("#total-orders")).to_have_text("1")
    expect(page.locator("#total-units")).to_have_text("3")
    expect(page.locator("#total-revenue")).to_have_text("103.00")
    products = page.locator("#products li")
    expect(products).to_have_count(2)
    expect(products.first).to_contain_text("Electric kettle")
    expect(products.first).to_contain_text("79.00 · 2 units")
    expect(page.locator("#categories li")).to_have_count(2)
    expect(page.locator('.empty[data-for="products"]')).to_be_hidden()
    today = page.locator("#days-chart rect.bar").last
    expect(today).to_have_attribute("data-revenue", "103.00")

    checkout(shop, {shop.lamp: 3})
    expect(page.locator("#total-orders")).to_have_text("2")
    expect(page.locator("#total-revenue")).to_have_text("175.00")
    expect(products.first).to_contain_text("Desk lamp")  # 96.00 now leads 79.00
    expect(page.locator(f'#categories li[data-key="{shop.lamps}"]')).to_have_attribute(
        "data-revenue", "96.00"
    )
    assert int(page.locator("#read-version").inner_text()) >= 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-1280.png"), full_page=True)

    for width in (390, 360):
        page.set_viewport_size({"width": width, "height": 860})
        page.wait_for_timeout(200)
        assert no_horizontal_scroll(page), width
        expect(page.locator("#products li").first).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 860})
    page.screenshot(path=str(ARTIFACTS / "dashboard-390.png"), full_page=True)
