"""The product-detail near cache on the embedded profile: the projection runs in the same
process (in the write transaction, or as a runner into its own file), and the cache
follows the documents' `changed_at` at each checkpoint. Reads through the hot path never
go below their `min_version` nor report a version below the document's own; a change
replaces a cached document; a rebuild's switch drops what was cached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send
from tests.support.caches import serving_at

from catalog.api.hot import HotReads
from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.read_models.product_detail.cache import SIZE_SETTING, DetailCache
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import DEFAULT_MODES, Settings
from tandem.rebuilds.progress import Rebuild


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """What the hot path hands everything else to: nothing else is asked here."""
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class Shop:
    def __init__(self, catalog: EmbeddedRuntime) -> None:
        self.catalog = catalog
        transport = httpx.ASGITransport(app=HotReads(_not_found, catalog))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://shop")

    @property
    def detail(self) -> DetailCache:
        assert self.catalog.detail_cache is not None
        return self.catalog.detail_cache

    async def product(self, name: str = "Lamp") -> str:
        bus = self.catalog.command_bus
        category = (await bus.dispatch(c.CreateCategory(name="Lamps"))).id
        created = c.CreateProduct(
            sku=name.upper(), name=name, category_id=category, price=Decimal("1.00")
        )
        return (await bus.dispatch(created)).id

    async def price(self, product_id: str, price: str) -> int:
        command = c.ChangePrice(product_id=product_id, price=Decimal(price))
        return (await self.catalog.command_bus.dispatch(command)).version

    async def get(self, product_id: str, min_version: int = 0) -> tuple[int, str]:
        """(X-Read-Version, price) of one read through the hot path."""
        response = await self.http.get(
            f"/products/{product_id}", headers={"X-Min-Version": str(min_version)}
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"]
        return int(response.headers["x-read-version"]), orjson.loads(response.content)["price"]

    async def caught_up(self) -> None:
        """Until the cache serves, having applied every change committed so far."""
        await serving_at(self.detail.cache, lambda: self.catalog.head.value)


@pytest.fixture(params=["sync", "async"])
async def shop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Shop]:
    """A started embedded catalog with product detail in the write transaction (`sync`,
    the default) or folded by a runner into its own file (`async`)."""
    modes = {**DEFAULT_MODES, "product_detail": str(request.param)}
    catalog = build_embedded(Settings(data_dir=tmp_path / "data", modes=modes))
    await catalog.start()
    found = Shop(catalog)
    try:
        yield found
    finally:
        await found.http.aclose()
        await catalog.stop()
        catalog.close()


async def test_a_read_after_a_write_with_its_min_version_gets_the_new_document(
    shop: Shop,
) -> None:
    product = await shop.product()
    await shop.caught_up()
    await shop.get(product)
    assert shop.detail.lookup(product, 0) is not None  # cached
    for n in range(5):
        version = await shop.price(product, f"{2 + n}.00")
        read_at, price = await shop.get(product, version)
        assert price == f"{2 + n}.00"
        assert read_at >= version


async def test_a_cached_document_is_replaced_after_a_change(shop: Shop) -> None:
    product = await shop.product()
    await shop.caught_up()
    await shop.get(product)
    version = await shop.price(product, "7.50")
    await shop.caught_up()
    assert shop.detail.cache.version_of(product) == version  # applied, not dropped
    hits = shop.detail.cache.hits
    read_at, price = await shop.get(product, version)
    assert (price, shop.detail.cache.hits) == ("7.50", hits + 1)  # from memory
    assert read_at >= version


async def test_the_version_reported_is_never_below_the_documents_own(shop: Shop) -> None:
    product = await shop.product()
    version = await shop.price(product, "3.00")
    await shop.caught_up()
    for _ in range(2):  # a miss that fills, then a hit
        read_at, _ = await shop.get(product)
        assert read_at >= version


async def _switched(progress: Rebuild) -> None:
    for _ in range(3000):
        if progress.state != "running":
            assert progress.state == "switched", progress.error
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the rebuild never finished")


async def test_a_rebuild_switch_drops_the_cache_and_the_new_copy_is_followed(
    shop: Shop,
) -> None:
    product = await shop.product()
    await shop.caught_up()
    await shop.get(product)
    assert len(shop.detail.cache) == 1
    await _switched(await shop.catalog.rebuild("product_detail"))
    assert shop.detail.lookup(product, 0) is None  # the first read after the switch
    assert len(shop.detail.cache) == 0
    await shop.caught_up()
    await shop.get(product)
    assert shop.detail.lookup(product, 0) is not None  # filled from the new copy
    version = await shop.price(product, "9.25")
    await shop.caught_up()
    assert shop.detail.cache.version_of(product) == version
    assert (await shop.get(product, version))[1] == "9.25"


async def test_level_1_and_a_cache_sized_0_have_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    level1 = build_embedded(Settings(data_dir=tmp_path / "level1", level=1))
    assert level1.detail_cache is None
    level1.close()
    monkeypatch.setenv(SIZE_SETTING, "0")
    unsized = build_embedded(Settings(data_dir=tmp_path / "unsized"))
    assert unsized.detail_cache is None
    unsized.close()
