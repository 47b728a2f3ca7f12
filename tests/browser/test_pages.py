"""The web pages in a real headless Chromium against a real `tandem serve` process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.chromium import ARTIFACTS, serving
from tests.browser.shop import Shop, stocked
from tests.support.server import Server

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("browser") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[Shop]:
    with stocked(server) as made:
        yield made


@pytest.fixture
def page(browser: Browser, shop: Shop) -> Iterator[Page]:
    # A fresh context per test: its own cookies and localStorage, so its own cart.
    context = browser.new_context(base_url=shop.url, viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    yield opened
    context.close()


def result_names(page: Page) -> list[str]:
    return page.locator("#results .result-name").all_text_contents()


def test_search_filters_and_sorts(page: Page, shop: Shop) -> None:
    page.goto("/")
    expect(page.locator("#results .result")).to_have_count(5)

    page.get_by_label("Search products").fill("knife")
    expect(page.locator("#results .result")).to_have_count(2)
    assert sorted(result_names(page)) == ["Chef knife", "Paring knife"]

    page.get_by_label("Search products").fill("")
    expect(page.locator("#results .result")).to_have_count(5)
    page.locator("#category-facets button", has_text="Garden").click()
    expect(page.locator("#results .result")).to_have_count(2)
    assert sorted(result_names(page)) == ["Copper watering can", "Garden hose"]
    expect(page.locator("#category-facets button[aria-pressed=true]")).to_contain_text("Garden")

    page.get_by_label("Sort").select_option("price_asc")
    expect(page.locator("#results .result-name").first).to_have_text("Garden hose")
    page.get_by_label("Sort").select_option("price_desc")
    expect(page.locator("#results .result-name").first).to_have_text("Copper watering can")

    link = page.get_by_role("link", name="Garden hose")
    assert link.get_attribute("href") == f"/products/{shop.products['Garden hose']}/view"
    page.screenshot(path=str(ARTIFACTS / "storefront.png"), full_page=True)


def test_load_more_pages_with_the_cursor(page: Page) -> None:
    page.goto("/?per_page=2")
    expect(page.locator("#results .result")).to_have_count(2)
    page.get_by_label("Sort").select_option("price_asc")
    expect(page.locator("#results .result")).to_have_count(2)
    load_more = page.get_by_role("button", name="Load more")
    load_more.click()
    expect(page.locator("#results .result")).to_have_count(4)
    load_more.click()
    expect(page.locator("#results .result")).to_have_count(5)
    expect(load_more).to_be_hidden()
    names = result_names(page)
    assert len(set(names)) == 5
    expect(page.locator("#result-summary")).to_have_text("Showing 5 of 5 products")


def test_product_page_updates_live(page: Page, shop: Shop) -> None:
    product_id = shop.products["Paring knife"]
    page.goto(f"/products/{product_id}/view")
    expect(page.locator("#product-name")).to_have_text("Paring knife")
    expect(page.locator("#product-price")).to_have_text("12.50")
    expect(page.locator("#product-stock")).to_have_text("10 in stock")
    expect(page.locator("#category-path")).to_have_text(re.compile(r"Kitchen\W+Knives"))
    version = int(page.locator("#product").get_attribute("data-version") or "0")
    # Subscribed before the change, so the change must arrive over the stream.
    expect(page.locator("#live-state")).to_have_text("live")
    page.evaluate("window.notReloaded = true")

    changed = shop.api.put(f"/products/{product_id}/price", json={"price": "11.00"})
    assert changed.status_code == 200, changed.text
    expect(page.locator("#product-price")).to_have_text("11.00")
    expect(page.locator("#product")).to_have_attribute("data-version", str(version + 1))

    renamed = shop.api.patch(f"/products/{product_id}", json={"name": "Paring knife, 9 cm"})
    assert renamed.status_code == 200, renamed.text
    stocked = shop.api.post(
        f"/products/{product_id}/stock-adjustments", json={"delta": -3, "reason": "breakage"}
    )
    assert stocked.status_code == 200, stocked.text
    expect(page.locator("#product-name")).to_have_text("Paring knife, 9 cm")
    expect(page.locator("#product-stock")).to_have_text("7 in stock")
    assert page.evaluate("window.notReloaded") is True
    page.wait_for_timeout(1600)  # let the change highlight fade before the picture
    page.screenshot(path=str(ARTIFACTS / "product.png"), full_page=True)


def test_unknown_product_page_is_404(shop: Shop) -> None:
    response = shop.api.get("/products/00000000-0000-4000-8000-000000000000/view")
    assert response.status_code == 404
    assert "Not found" in response.text


def test_cart_is_optimistic_rolls_back_and_checks_out(page: Page, shop: Shop) -> None:
    page.goto("/")
    expect(page.locator("#cart-empty")).to_be_visible()
    cart_id = page.evaluate("localStorage.getItem('tandem.cart')")
    assert UUID_TEXT.fullmatch(cart_id)

    # Hold the add-to-cart request, so the line can only come from the page itself.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/carts/*/items", hold)
    page.get_by_role("button", name="Add Chef knife to cart").click()
    line = page.locator(f'.cart-line[data-product-id="{shop.products["Chef knife"]}"]')
    expect(line).to_have_attribute("data-state", "pending")
    expect(line).to_contain_text("adding…")
    expect(page.get_by_role("button", name="Checkout")).to_be_disabled()
    for _ in range(50):  # the route handler runs while Playwright pumps its messages
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/carts/*/items")
    expect(line).to_have_attribute("data-state", "confirmed")
    expect(line).to_have_attribute("data-quantity", "1")
    expect(line.locator(".line-qty")).to_contain_text("49.90")

    can = page.locator(f'.cart-line[data-product-id="{shop.products["Copper watering can"]}"]')
    page.get_by_role("button", name="Add Copper watering can to cart").click()
    expect(can).to_have_attribute("data-state", "confirmed")
    # Only one can is in stock: the second one is shown, refused, then taken back.
    page.get_by_role("button", name="Add Copper watering can to cart").click()
    message = page.locator("#cart-message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("Copper watering can")
    expect(message).to_contain_text("has 1 in stock")
    expect(can).to_have_attribute("data-quantity", "1")
    expect(can).to_have_attribute("data-state", "confirmed")
    expect(page.locator("#cart-subtotal")).to_have_text("84.90")
    page.screenshot(path=str(ARTIFACTS / "storefront-cart.png"), full_page=True)

    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Checkout").click()
    result = page.locator("#order-result")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Total 84.90 USD")
    order_id = page.locator("#order-id").text_content() or ""
    assert UUID_TEXT.fullmatch(order_id)
    # The order view is fed asynchronously: read it at the version checkout answered.
    version = result.get_attribute("data-version")
    order = shop.api.get(f"/orders/{order_id}", params={"min_version": version, "wait_ms": 5000})
    assert order.status_code == 200, order.text
    assert order.json()["total"] == "84.90"
    expect(page.locator(".cart-line")).to_have_count(0)
    new_cart = page.evaluate("localStorage.getItem('tandem.cart')")
    assert UUID_TEXT.fullmatch(new_cart)
    assert new_cart != cart_id


def test_ops_page_shows_every_projection_live(page: Page, shop: Shop) -> None:
    status = shop.api.get("/status").json()
    names = [p["name"] for p in status["projections"]]
    page.goto("/ops")
    rows = page.locator("#projections tbody tr")
    expect(rows).to_have_count(len(names))
    for name in names:
        row = page.locator(f'#projections tr[data-projection="{name}"]')
        expect(row.locator("th")).to_have_text(name)
        expect(row.locator('[data-field="state"]')).not_to_be_empty()
    expect(page.locator("#stream-state")).to_have_text("live")

    checkpoint = page.locator(
        '#projections tr[data-projection="product_search"] [data-field=checkpoint]'
    )
    before = int(checkpoint.text_content() or "0")
    adjusted = shop.api.post(
        f"/products/{shop.products['Kitchen scale']}/stock-adjustments",
        json={"delta": 2, "reason": "delivery"},
    )
    assert adjusted.status_code == 200, adjusted.text
    after = adjusted.json()["version"]
    assert after > before
    expect(checkpoint).to_have_text(str(after))
    expect(page.locator("#head")).to_have_text(str(after))
    # Let the chart gather a few /status samples before the picture is taken.
    expect(page.locator("#lag-chart polyline")).to_have_count(len(names))
    page.wait_for_timeout(4500)
    page.screenshot(path=str(ARTIFACTS / "ops.png"), full_page=True)
