"""The operations page's controls in a real headless Chromium against `tandem serve`:
rebuilds started with an admin token and followed over `/stream/progress` up to the
switch, and dead letters listed, skipped and retried."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from catalog.settings import Settings
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.messages import StoredEvent
from tests.browser.chromium import ARTIFACTS, need_chromium
from tests.support.server import Server


@dataclasses.dataclass(frozen=True)
class Ops:
    server: Server
    admin: str  # a token with the admin scope, made by `tandem token create`
    customer: str  # one without it
    api: httpx.Client


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    need_chromium()
    server = Server(tmp_path_factory.mktemp("ops") / "data")
    admin = server.cli("token", "create", "--subject", "operator", "--scopes", "admin")
    customer = server.cli("token", "create", "--subject", "dora", "--scopes", "orders")
    server.start()
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    try:
        category = api.post("/categories", json={"name": "Lamps"}).json()["id"]
        for i in range(60):
            body = {
                "sku": f"LAMP-{i}",
                "name": f"Desk lamp {i}",
                "category_id": category,
                "price": f"{20 + i}.00",
                "initial_stock": 5,
            }
            created = api.post("/products", json=body)
            assert created.status_code == 201, created.text
        yield Ops(server, admin, customer, api)
    finally:
        api.close()
        server.stop()


@pytest.fixture
def page(browser: Browser, ops: Ops) -> Iterator[Page]:
    # A fresh context per test: its own sessionStorage, so no token carried over.
    context = browser.new_context(base_url=ops.server.url, viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def save_token(page: Page, token: str) -> None:
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#token-state")).to_have_text("A token is saved for this tab.")


def test_rebuild_from_the_page_follows_progress_to_the_switch(page: Page, ops: Ops) -> None:
    page.goto("/ops")
    expect(page.locator("#stream-state")).to_have_text("live")
    row = page.locator('#projections tr[data-projection="product_search"]')
    start = page.get_by_role("button", name="Rebuild product_search", exact=True)
    expect(start).to_be_enabled()

    start.click()
    expect(page.locator("#ops-error")).to_have_text("Save an admin token first.")
    save_token(page, ops.customer)
    start.click()
    expect(page.locator("#ops-error")).to_have_text("The token lacks the scope 'admin'.")
    assert ops.api.get("/admin/projections/product_search/rebuild").status_code == 404

    save_token(page, ops.admin)
    assert page.evaluate("sessionStorage.getItem('tandem.ops.token')") == ops.admin
    bar = row.locator("progress")
    # Every value the bar takes, as the page sets it.
    page.evaluate(
        """(bar) => {
          window.percents = [];
          new MutationObserver(() => window.percents.push(bar.value))
            .observe(bar, { attributes: true, attributeFilter: ["value"] });
        }""",
        bar.element_handle(),
    )
    record_notices(page)
    start.click()
    expect(row).to_have_attribute("data-rebuild", "switched", timeout=30_000)
    # The notice said what started, and went once the rebuild switched.
    expect(page.locator("#ops-notice")).to_be_hidden()
    assert "Rebuilding product_search into product_search.g2.db." in page.evaluate("window.notices")
    expect(bar).to_have_js_property("value", 100)
    text = row.locator(".rebuild-text")
    expect(text).to_contain_text("switched to product_search.g2.db")
    expect(text).to_contain_text("events/s")
    expect(row.get_by_role("button", name="Cancel the rebuild of product_search")).to_be_hidden()
    expect(start).to_be_enabled()
    percents: list[float] = page.evaluate("window.percents")
    assert percents[-1] == 100 and percents == sorted(percents), percents
    # The page got the switch from the stream: the server agrees, and /status does too.
    progress = ops.api.get("/admin/projections/product_search/rebuild").json()
    assert progress["state"] == "switched" and progress["percent"] == 100
    assert ops.api.get("/products", params={"q": "lamp"}).json()["total"] == 60
    page.screenshot(path=str(ARTIFACTS / "ops-rebuild.png"), full_page=True)


def record_notices(page: Page) -> None:
    """Keep every text the notice shows in `window.notices`, however briefly."""
    page.evaluate(
        """() => {
          const notice = document.getElementById("ops-notice");
          window.notices = [];
          new MutationObserver(() => window.notices.push(notice.textContent))
            .observe(notice, { childList: true, characterData: true, subtree: true });
        }"""
    )


def test_a_sync_read_model_is_rebuilt_from_the_page(page: Page, ops: Ops) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/ops")
    row = page.locator('#projections tr[data-projection="product_detail"]')
    # Product detail is a sync projection by default: its copies are write-database tables.
    expect(row.locator('[data-field="mode"]')).to_have_text("sync")
    expect(row.locator('[data-field="version"]')).to_have_text("1")
    start = page.get_by_role("button", name="Rebuild product_detail", exact=True)
    expect(start).to_be_enabled()
    save_token(page, ops.admin)
    record_notices(page)
    start.click()
    expect(row).to_have_attribute("data-rebuild", "switched", timeout=30_000)
    expect(row.locator(".rebuild-text")).to_contain_text("switched to product_detail_g2")
    expect(page.locator("#ops-notice")).to_be_hidden()
    expect(start).to_be_enabled()
    progress = ops.api.get("/admin/projections/product_detail/rebuild").json()
    assert progress["state"] == "switched" and progress["target"] == "product_detail_g2"
    status = ops.api.get("/status").json()
    (detail,) = [p for p in status["projections"] if p["name"] == "product_detail"]
    assert detail["mode"] == "sync" and detail["state"] == "live" and detail["version"] == 1
    # The new tables serve: a product read through them is there.
    assert ops.api.get("/products", params={"q": "lamp"}).json()["total"] == 60
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "ops-sync-rebuild.png"), full_page=True)
    assert errors == []


def test_a_second_rebuild_replaces_the_first_ones_progress(page: Page, ops: Ops) -> None:
    page.goto("/ops")
    save_token(page, ops.admin)
    row = page.locator('#projections tr[data-projection="category_stats"]')
    row.get_by_role("button", name="Rebuild category_stats", exact=True).click()
    expect(row).to_have_attribute("data-rebuild", "switched", timeout=30_000)
    expect(row.locator(".rebuild-text")).to_contain_text("category_stats.g2.db")
    row.get_by_role("button", name="Rebuild category_stats", exact=True).click()
    expect(row.locator(".rebuild-text")).to_contain_text("category_stats.g3.db", timeout=30_000)
    expect(row).to_have_attribute("data-rebuild", "switched")
    expect(row.locator("progress")).to_have_js_property("value", 100)


def _park(ops: Ops, aggregate_id: str, names: list[str | None]) -> list[StoredEvent]:
    """Park the aggregate's events for category_stats, as its runner would have, each
    renamed (or, for None, made unappliable), so applying one shows."""

    async def plant() -> list[StoredEvent]:
        data = ops.server.data_dir
        reader = SqliteEventLogReader(Settings(data_dir=data).write_database)
        try:
            events = [
                e for e in await reader.read_after(0, 100_000) if e.aggregate_id == aggregate_id
            ]
        finally:
            reader.close()
        parked: list[StoredEvent] = []
        for event, name in zip(events, names, strict=True):
            changed: dict[str, Any] = (
                {} if name is None else {**event.data, "name": name, "slug": name}
            )
            kind = event.type if name is not None else "CategoryRenamed"
            parked.append(dataclasses.replace(event, type=kind, data=changed))
        letters = SqliteDeadLetters(data / "dead-letters.db")
        try:
            for event in parked:
                await letters.park("category_stats", event, "Boom: parked by the test")
        finally:
            letters.close()
        return parked

    # Playwright's sync API keeps an event loop running on this thread.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, plant()).result()


def _category_names(ops: Ops) -> set[str]:
    def walk(nodes: list[dict[str, Any]]) -> Iterator[str]:
        for node in nodes:
            yield str(node["name"])
            yield from walk(node.get("children", []))

    body = ops.api.get("/categories", params={"consistency": "eventual"}).json()
    return set(walk(body["categories"]))


def test_dead_letters_are_listed_skipped_and_retried(page: Page, ops: Ops) -> None:
    category = ops.api.post("/categories", json={"name": "Parked"}).json()["id"]
    renamed = ops.api.patch(f"/categories/{category}", json={"name": "Parked again"})
    assert renamed.status_code == 200, renamed.text
    broke = ops.api.post("/categories", json={"name": "Broken"}).json()
    broken = broke["id"]
    stats = ops.api.get(f"/categories/{broken}/stats", params={"min_version": broke["version"]})
    assert stats.status_code == 200, stats.text
    skipped, retried = _park(ops, category, ["Never applied", "Applied on retry"])
    (unappliable,) = _park(ops, broken, [None])

    page.goto("/ops")
    expect(page.locator("#dead-letters-state")).to_have_text(
        "Save an admin token to see parked events."
    )
    save_token(page, ops.admin)
    letters = page.locator("#dead-letters tbody tr")
    expect(letters).to_have_count(3)
    expect(page.locator("#dead-letters-state")).to_have_text("3 parked event(s).")
    counted = page.locator(
        '#projections tr[data-projection="category_stats"] [data-field=dead_letters]'
    )
    expect(counted).to_have_text("3")
    expect(counted).to_have_class("num parked")
    first = page.locator(f'#dead-letters tr[data-position="{skipped.position}"]')
    expect(first).to_contain_text("CategoryCreated")
    expect(first).to_contain_text("Boom: parked by the test")
    page.screenshot(path=str(ARTIFACTS / "ops-dead-letters.png"), full_page=True)

    page.get_by_role("button", name=f"Skip category_stats at {skipped.position}").click()
    expect(page.locator("#ops-notice")).to_have_text(
        f"Skipped position {skipped.position} of category_stats."
    )
    expect(letters).to_have_count(2)
    assert "Never applied" not in _category_names(ops)

    page.get_by_role("button", name=f"Retry category_stats at {unappliable.position}").click()
    expect(page.locator("#ops-error")).to_contain_text("KeyError")
    expect(page.locator("#ops-error")).to_contain_text("letters kept")
    expect(letters).to_have_count(2)

    page.get_by_role("button", name=f"Retry category_stats at {retried.position}").click()
    expect(page.locator("#ops-notice")).to_have_text(
        f"Applied 1 parked event(s) of {category} to category_stats."
    )
    expect(letters).to_have_count(1)
    assert "Applied on retry" in _category_names(ops)

    page.get_by_role("button", name=f"Skip category_stats at {unappliable.position}").click()
    expect(letters).to_have_count(0)
    expect(page.locator("#dead-letters-state")).to_have_text("No parked events.")
    expect(counted).to_have_text("0", timeout=10_000)
