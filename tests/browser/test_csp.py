"""Every page, the API docs included, in a real Chromium under the server's
Content-Security-Policy: each renders, nothing is refused, nothing is fetched from
anywhere but the server itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect

from tests.browser.chromium import ARTIFACTS, serving
from tests.support.server import ADMIN_TOKEN, Server

# Recorded before any script of the page runs (an init script is not subject to the
# page's policy), so a refusal during the page's own start is seen too.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


@dataclass
class Watched:
    page: Page
    origin: str
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("csp") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def product(server: Server) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=10) as api:
        category = api.post("/categories", json={"name": "Lamps"}).json()["id"]
        body = {"sku": "LAMP-1", "name": "Desk lamp", "category_id": category, "price": "24.00"}
        created = api.post("/products", json={**body, "initial_stock": 3})
        assert created.status_code == 201, created.text
        version = created.json()["version"]
        api.get("/products", params={"min_version": version, "wait_ms": 10000})
        return str(created.json()["id"])


@pytest.fixture
def watched(browser: Browser, server: Server) -> Iterator[Watched]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    seen = Watched(page, server.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append((message.text, message.location.get("url", "")))

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            seen.foreign.append(route.request.url)
            route.abort()

    page.on("console", on_console)
    page.route("**/*", only_this_server)
    yield seen
    context.close()


def settle_and_check(seen: Watched, name: str, *, status: int = 200) -> None:
    seen.page.wait_for_timeout(500)  # what a page does just after it rendered, too
    seen.page.screenshot(path=str(ARTIFACTS / f"csp-{name}.png"), full_page=False)
    assert seen.violations() == []
    errors = seen.console_errors
    if status != 200:  # the browser reports the page's own status as an error
        errors = [(text, url) for text, url in errors if url != seen.page.url]
    assert errors == []
    assert seen.foreign == []


def test_storefront_runs_under_its_policy(watched: Watched, product: str) -> None:
    watched.page.goto("/")
    expect(watched.page.locator("#results .result")).to_have_count(1)
    watched.page.get_by_label("Search products").fill("lamp")
    expect(watched.page.locator("#results .result")).to_have_count(1)
    settle_and_check(watched, "storefront")


def test_product_page_runs_under_its_policy(watched: Watched, product: str) -> None:
    watched.page.goto(f"/products/{product}/view")
    expect(watched.page.locator("#product-name")).to_have_text("Desk lamp")
    expect(watched.page.locator("#live-state")).not_to_have_text("connecting…")
    settle_and_check(watched, "product")


def test_ops_page_runs_under_its_policy(watched: Watched, product: str) -> None:
    watched.page.goto("/ops")
    expect(watched.page.locator("#projections tbody tr").first).to_be_visible()
    expect(watched.page.locator("#chart-legend li").first).to_be_visible()
    settle_and_check(watched, "ops")


def test_dashboard_runs_under_its_policy(watched: Watched, product: str) -> None:
    watched.page.goto("/dashboard")
    expect(watched.page.locator("#live-state")).to_have_text("live")
    expect(watched.page.locator("#days-chart rect.bar")).to_have_count(30)
    settle_and_check(watched, "dashboard")


def test_not_found_page_runs_under_its_policy(watched: Watched) -> None:
    watched.page.goto("/products/00000000-0000-4000-8000-000000000000/view")
    expect(watched.page.get_by_role("heading", name="Not found")).to_be_visible()
    settle_and_check(watched, "not-found", status=404)


def test_swagger_ui_renders_from_local_assets_under_its_policy(watched: Watched) -> None:
    watched.page.goto("/docs")
    expect(watched.page.locator(".swagger-ui .info .title")).to_contain_text("Tandem catalog")
    expect(watched.page.locator(".opblock-summary-path").first).to_be_visible()
    watched.page.locator(".opblock-summary").first.click()
    expect(watched.page.locator(".opblock-body").first).to_be_visible()
    settle_and_check(watched, "docs")


def test_redoc_renders_from_local_assets_under_its_policy(watched: Watched) -> None:
    watched.page.goto("/redoc")
    expect(watched.page.locator("h1").first).to_contain_text("Tandem catalog")
    expect(watched.page.locator("h2", has_text="List Categories").first).to_be_attached()
    settle_and_check(watched, "redoc")
