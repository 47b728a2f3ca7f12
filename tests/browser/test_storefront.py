"""The shopper's storefront in a real headless Chromium: a guest's cart without any
token, search state in the page address, the open-ended price facet, the product page's
Add to cart and price history, phone widths, and no console errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser.chromium import serving
from tests.browser.shop import Shop, stocked

SHOTS = Path("/tmp/shots")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
NARROWEST = {"width": 360, "height": 740}
TIMES = "\u00d7"  # multiplication sign: "2 TIMES Chef knife"
DASH = "\u2013"  # en dash, between the bounds of a price bucket


@dataclass
class Watched:
    """A page and the console errors and uncaught exceptions it has had."""

    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data = tmp_path_factory.mktemp("storefront") / "data"
    with serving(data) as server, stocked(server) as made:
        # Above the top price bucket's lower bound (500.00), which has no upper bound;
        # three prices, for the product page's history.
        body = {
            "sku": "ESPR-1",
            "name": "Espresso machine",
            "category_id": made.kitchen,
            "price": "649.00",
            "initial_stock": 2,
        }
        created = made.api.post("/products", json=body)
        assert created.status_code == 201, created.text
        espresso = created.json()["id"]
        for price in ("599.00", "619.00"):
            changed = made.api.put(f"/products/{espresso}/price", json={"price": price})
            assert changed.status_code == 200, changed.text
        version = changed.json()["version"]
        found = made.api.get("/products", params={"min_version": version, "wait_ms": 10000})
        assert found.json()["total"] == len(made.products) + 1
        made.products["Espresso machine"] = espresso
        yield made


def _watched(browser: Browser, shop: Shop, viewport: dict[str, int]) -> Iterator[Watched]:
    context = browser.new_context(base_url=shop.url, viewport=viewport)  # type: ignore[arg-type]
    seen = Watched(context.new_page())

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(f"{message.text} at {message.location}")

    seen.page.on("console", on_console)
    seen.page.on("pageerror", lambda error: seen.errors.append(str(error)))
    yield seen
    context.close()


@pytest.fixture
def desktop(browser: Browser, shop: Shop) -> Iterator[Watched]:
    yield from _watched(browser, shop, DESKTOP)


@pytest.fixture
def phone(browser: Browser, shop: Shop) -> Iterator[Watched]:
    yield from _watched(browser, shop, PHONE)


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"storefront-{name}.png"), full_page=False)


def _params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_a_guest_buys_from_the_product_page_and_sees_the_order(
    desktop: Watched, shop: Shop
) -> None:
    page = desktop.page
    page.goto("/")
    page.get_by_label("Search products").fill("chef")
    expect(page.locator("#results .result")).to_have_count(1)
    page.get_by_role("link", name="Chef knife").click()
    expect(page.locator("#product-name")).to_have_text("Chef knife")

    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#add-message")).to_have_text(f"Added 2 {TIMES} Chef knife to your cart.")

    page.locator("#back-to-store").click()
    line = page.locator(f'.cart-line[data-product-id="{shop.products["Chef knife"]}"]')
    expect(line).to_have_attribute("data-quantity", "2")
    expect(page.get_by_label("Search products")).to_have_value("chef")
    page.get_by_label("Quantity of Chef knife").fill("3")
    page.get_by_label("Quantity of Chef knife").press("Enter")
    expect(line).to_have_attribute("data-quantity", "3")
    expect(line).to_have_attribute("data-state", "confirmed")
    expect(page.locator("#cart-subtotal")).to_have_text("149.70")
    page.get_by_label("Quantity of Chef knife").fill("1")
    page.get_by_label("Quantity of Chef knife").press("Enter")
    expect(line).to_have_attribute("data-quantity", "1")
    expect(page.locator("#cart-subtotal")).to_have_text("49.90")
    page.get_by_label("Quantity of Chef knife").fill("2")
    page.get_by_label("Quantity of Chef knife").press("Enter")
    expect(page.locator("#cart-subtotal")).to_have_text("99.80")

    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Checkout").click()
    result = page.locator("#order-result")
    expect(result).to_contain_text("Order placed")
    expect(result).to_contain_text(f"2 {TIMES} Chef knife")
    expect(result).to_contain_text("Total 99.80 USD")
    expect(page.locator("#order-contact")).to_have_text("For Ada Lovelace <ada@example.com>")
    expect(page.locator(".cart-line")).to_have_count(0)
    # Nothing but this browser's cookie made the order: no token is anywhere.
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["tandem_guest"]["httpOnly"] is True
    assert cookies["tandem_guest"]["sameSite"] == "Lax"
    assert desktop.errors == []


def test_back_restores_the_search_and_the_sort_menu_matches(desktop: Watched, shop: Shop) -> None:
    page = desktop.page
    page.goto("/")
    expect(page.locator("#results .result")).to_have_count(6)
    page.get_by_label("Search products").fill("knife")
    expect(page.locator("#results .result")).to_have_count(2)
    page.locator("#price-facets button", has_text=f"10.00 {DASH} 25.00").click()
    expect(page.locator("#results .result")).to_have_count(1)
    page.get_by_label("Sort").select_option("price_desc")
    expect(page).to_have_url(re.compile(r"sort=price_desc"))
    assert _params(page)["q"] == ["knife"]
    assert _params(page)["min_price"] == ["10.00"]

    page.get_by_role("link", name="Paring knife").click()
    expect(page.locator("#product-name")).to_have_text("Paring knife")
    page.go_back()
    expect(page.get_by_label("Search products")).to_have_value("knife")
    expect(page.get_by_label("Sort")).to_have_value("price_desc")
    pressed = page.locator("#price-facets button[aria-pressed=true]")
    expect(pressed).to_contain_text(f"10.00 {DASH} 25.00")
    expect(page.locator("#results .result")).to_have_count(1)
    expect(page.locator("#results .result-name")).to_have_text(["Paring knife"])

    # Back once more: the search before the sort, then before the price facet.
    page.go_back()
    expect(page.get_by_label("Sort")).to_have_value("relevance")
    expect(page.locator("#results .result")).to_have_count(1)
    page.go_back()
    expect(page.locator("#price-facets button[aria-pressed=true]")).to_have_count(0)
    expect(page.locator("#results .result")).to_have_count(2)
    page.go_forward()
    expect(page.locator("#results .result")).to_have_count(1)

    # A shared link opens the same search, the category facet named.
    page.goto(f"/?category={shop.garden}&sort=price_asc")
    expect(page.get_by_label("Sort")).to_have_value("price_asc")
    expect(page.locator("#results .result-name")).to_have_text(
        ["Garden hose", "Copper watering can"]
    )
    expect(page.locator("#category-facets button[aria-pressed=true]")).to_contain_text("Garden")
    assert desktop.errors == []


def test_load_more_is_kept_in_the_address(desktop: Watched) -> None:
    page = desktop.page
    page.goto("/?per_page=2&sort=price_asc")
    expect(page.locator("#results .result")).to_have_count(2)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#results .result")).to_have_count(4)
    expect(page).to_have_url(re.compile(r"pages=2"))
    page.reload()
    expect(page.locator("#results .result")).to_have_count(4)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#results .result")).to_have_count(6)
    assert len(set(page.locator("#results .result-name").all_text_contents())) == 6


def test_the_open_ended_price_facet_filters(desktop: Watched) -> None:
    page = desktop.page
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto("/")
    top = page.locator("#price-facets button", has_text="500.00 and up")
    expect(top).to_have_count(1)
    expect(page.locator("#price-facets")).not_to_contain_text("null")
    top.click()
    expect(page.locator("#results .result-name")).to_have_text(["Espresso machine"])
    expect(page.locator("#search-error")).to_be_hidden()
    expect(top).to_have_attribute("aria-pressed", "true")
    assert _params(page)["min_price"] == ["500.00"]
    assert "max_price" not in _params(page)
    assert not [url for url in asked if "max_price=null" in url]
    assert desktop.errors == []


def test_the_product_page_draws_its_price_history_and_follows_changes(
    desktop: Watched, shop: Shop
) -> None:
    page = desktop.page
    espresso = shop.products["Espresso machine"]
    page.goto(f"/products/{espresso}/view")
    chart = page.locator("#price-chart")
    expect(chart).to_have_attribute("data-points", "3")
    expect(chart.locator("polyline")).to_have_count(1)
    expect(chart.locator("circle")).to_have_count(3)
    expect(page.locator("#live-state")).to_have_text("live")
    changed = shop.api.put(f"/products/{espresso}/price", json={"price": "579.00"})
    assert changed.status_code == 200, changed.text
    expect(page.locator("#product-price")).to_have_text("579.00")
    expect(chart).to_have_attribute("data-points", "4")
    _shot(page, "product-desktop")
    assert desktop.errors == []


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, (page.url, width, viewport)


def test_phones_scroll_only_down_and_the_cart_is_a_drawer(
    phone: Watched, shop: Shop, browser: Browser
) -> None:
    page = phone.page
    page.goto("/")
    expect(page.locator("#results .result")).to_have_count(6)
    _no_sideways_scroll(page)
    for count in page.locator("#category-facets .count, #price-facets .count").all():
        box = count.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["x"] + box["width"] <= PHONE["width"], count.text_content()
    cart = page.locator("#cart")
    expect(cart).to_be_hidden()
    _shot(page, "phone")
    page.get_by_role("button", name="Add Garden hose to cart").click()
    toggle = page.get_by_role("button", name=re.compile(r"^Cart"))
    expect(toggle).to_contain_text("1")
    toggle.click()
    expect(cart).to_be_visible()
    expect(cart.locator(".cart-line")).to_have_count(1)
    box = cart.bounding_box()
    assert box is not None and box["y"] == 0 and box["x"] >= 0
    page.wait_for_timeout(300)  # the drawer's slide
    _no_sideways_scroll(page)
    _shot(page, "cart-drawer-phone")
    page.get_by_role("button", name="Close the cart").click()
    expect(cart).to_be_hidden()

    # A refusal names the product, in a drawer that opens to show it. (The browser
    # logs the refused request's 409 as an error: the one expected below.)
    assert phone.errors == []
    add_can = page.get_by_role("button", name="Add Copper watering can to cart")
    add_can.click()
    expect(toggle).to_contain_text("2")
    add_can.click()
    expect(cart).to_be_visible()
    message = page.locator("#cart-message")
    expect(message).to_contain_text("Copper watering can")
    expect(message).to_contain_text("has 1 in stock")
    expect(message).not_to_contain_text(shop.products["Copper watering can"])
    page.get_by_role("button", name="Close the cart").click()
    assert len(phone.errors) == 1 and "status of 409" in phone.errors[0], phone.errors
    phone.errors.clear()

    page.goto(f"/products/{shop.products['Espresso machine']}/view")
    expect(page.locator("#price-chart circle").first).to_be_visible()
    _no_sideways_scroll(page)
    _shot(page, "product-phone")
    page.set_viewport_size(NARROWEST)
    _no_sideways_scroll(page)
    page.goto("/")
    expect(page.locator("#results .result")).to_have_count(6)
    _no_sideways_scroll(page)
    assert phone.errors == []


def test_desktop_pictures_and_no_console_errors(desktop: Watched, shop: Shop) -> None:
    page = desktop.page
    page.goto("/")
    expect(page.locator("#results .result")).to_have_count(6)
    _shot(page, "desktop")
    page.get_by_role("button", name="Add Paring knife to cart").click()
    page.get_by_role("button", name="Add Kitchen scale to cart").click()
    expect(page.locator(".cart-line[data-state=confirmed]")).to_have_count(2)
    _shot(page, "cart-desktop")
    # A reload reads the cart that now exists; a fresh browser never asks for one.
    page.reload()
    expect(page.locator(".cart-line")).to_have_count(2)
    assert desktop.errors == []


def test_a_new_browser_reads_no_cart_and_the_favicon_answers(desktop: Watched, shop: Shop) -> None:
    page = desktop.page
    statuses: list[tuple[str, int]] = []
    page.on("response", lambda response: statuses.append((response.url, response.status)))
    page.goto("/")
    expect(page.locator("#results .result")).to_have_count(6)
    page.goto(f"/products/{shop.products['Garden hose']}/view")
    expect(page.locator("#live-state")).to_have_text("live")
    assert [entry for entry in statuses if entry[1] >= 400] == []
    assert not [url for url, _ in statuses if "/carts/" in url]
    icon = httpx.get(f"{shop.url}/favicon.ico")
    assert icon.status_code == 200
    assert icon.content[:4] == b"\x00\x00\x01\x00"
    assert desktop.errors == []
