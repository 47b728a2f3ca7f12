"""The scope changes the SQLite product-search and category-stats folds record: which
answers each batch may have altered, with the checkpoint and trimmed position read from
the same snapshot (`catalog.read_models.scopes`, `catalog.read_models.sqlite_scopes`)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.folding import all_events

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.read_models import sqlite_scopes
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.category_stats.sqlite_reads import CategoryStatsReads
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.product_search.sqlite_reads import ProductSearchReads
from catalog.read_models.scopes import (
    CATALOG,
    EVERYTHING,
    ScopeChanges,
    offer_change,
    product_scope,
)
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import DEFAULT_MODES, Settings
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.stores.sqlite import SqliteProjectionStore


@dataclass(frozen=True)
class Model:
    """One read model that records scope changes: its fold and its queries."""

    projection: Callable[[], Projection[sqlite3.Connection]]
    reads: Callable[[Any], ProductSearchReads | CategoryStatsReads]
    prefix: str


MODELS = {
    "product_search": Model(ProductSearchProjection, ProductSearchReads, "ps"),
    "category_stats": Model(CategoryStatsProjection, CategoryStatsReads, "cs"),
}


class World:
    """A running catalog, and one read model folded from its log into a store of its own
    in batches the test chooses."""

    def __init__(self, cat: EmbeddedRuntime, model: Model, path: Path) -> None:
        self.cat = cat
        self.model = model
        self.store = SqliteProjectionStore(path)
        self.projection = model.projection()
        self.reads = model.reads(self.store.reader)
        self.folded = 0

    async def do(self, command: Any) -> int:
        return (await self.cat.command_bus.dispatch(command)).version

    async def category(self, name: str, parent: str | None = None) -> str:
        created = c.CreateCategory(name=name, parent_id=parent)
        return (await self.cat.command_bus.dispatch(created)).id

    async def product(self, category: str) -> str:
        created = c.CreateProduct(
            sku=f"S-{self.cat.head.value}",
            name="Lamp",
            category_id=category,
            price=Decimal("10.00"),
            initial_stock=3,
        )
        return (await self.cat.command_bus.dispatch(created)).id

    async def fold(self) -> int:
        """Fold what the log holds beyond the store's checkpoint, in one batch."""
        events: list[StoredEvent] = [
            e for e in await all_events(self.cat) if e.position > self.folded
        ]
        await self.store.setup(self.projection)
        self.folded = await self.store.apply(self.projection, events)
        return self.folded

    async def changes(self, after: int | None) -> ScopeChanges:
        return await self.reads.scope_changes(after)

    async def cursor(self) -> int:
        """Where a reader that starts now stands."""
        found: int = (await self.changes(None)).cursor
        return found


@pytest.fixture(params=sorted(MODELS))
async def world(
    request: pytest.FixtureRequest, catalog: EmbeddedRuntime, tmp_path: Path
) -> AsyncIterator[World]:
    found = World(catalog, MODELS[str(request.param)], tmp_path / "under-test" / "model.db")
    try:
        yield found
    finally:
        found.store.close()


def _scopes(changes: ScopeChanges, position: int) -> set[str]:
    return {scope for at, scope in changes.rows if at == position}


def _offered(model: str, categories: tuple[str, ...], keys: list[str]) -> set[str]:
    """What a change to a product's offer alone (its price, whether it is in stock)
    records in these categories: the categories themselves in the stats, offer changes
    with the word keys of the product's text in the search, whose text answers it
    alters only if they have one of its keys."""
    if model == "product_search":
        return {offer_change(category, keys) for category in categories}
    return set(categories)


# The keys of a product named "Lamp" whose category path is "Shop", "Shop / Lamps" or
# "Shop / Lamps / Desk" (its SKU has no word of three characters).
LAMP = ["lam", "sho"]
DESK_LAMP = ["des", "lam", "sho"]


async def test_a_product_change_touches_its_categorys_ancestors_and_the_catalog(
    world: World,
) -> None:
    shop = await world.category("Shop")
    lamps = await world.category("Lamps", shop)
    desk = await world.category("Desk", lamps)
    other = await world.category("Other")
    product = await world.product(desk)
    await world.fold()
    before = await world.cursor()
    changed = await world.do(c.ChangePrice(product_id=product, price=Decimal("12.00")))
    await world.fold()
    changes = await world.changes(before)
    touched = _offered(world.projection.name, (CATALOG, shop, lamps, desk), DESK_LAMP)
    assert changes.rows == sorted((changed, s) for s in touched)
    assert not any(s.endswith(other) for s in _scopes(changes, changed))
    assert (changes.checkpoint, changes.gap) == (changed, False)
    assert (await world.changes(changes.cursor)).rows == []


async def test_a_move_touches_the_categories_before_and_after(world: World) -> None:
    shop = await world.category("Shop")
    lamps = await world.category("Lamps", shop)
    garden = await world.category("Garden")
    product = await world.product(lamps)
    await world.fold()
    before = await world.cursor()
    moved = await world.do(
        c.UpdateProductDetails(product_id=product, category_id=garden, name="Lamp")
    )
    await world.fold()
    assert _scopes(await world.changes(before), moved) == {CATALOG, shop, lamps, garden}


async def test_category_events_touch_everything(world: World) -> None:
    shop = await world.category("Shop")
    created = world.cat.head.value
    await world.fold()
    renamed = await world.do(c.RenameCategory(category_id=shop, name="Store"))
    await world.fold()
    changes = await world.changes(0)
    assert changes.rows == [(created, EVERYTHING), (renamed, EVERYTHING)]


async def _lamp_and_chair(world: World) -> tuple[str, str, str, str, str]:
    """Shop > Lamps and Shop > Chairs, a lamp in the one and a chair in the other, folded:
    (shop, lamps, chairs, lamp, chair)."""
    shop = await world.category("Shop")
    lamps = await world.category("Lamps", shop)
    chairs = await world.category("Chairs", shop)
    lamp, chair = await world.product(lamps), await world.product(chairs)
    await world.fold()
    return shop, lamps, chairs, lamp, chair


async def test_a_batch_records_each_scope_once_at_the_highest_position(world: World) -> None:
    shop, lamps, chairs, lamp, chair = await _lamp_and_chair(world)
    before = await world.cursor()
    first = await world.do(c.ChangePrice(product_id=lamp, price=Decimal("11.00")))
    second = await world.do(c.ChangePrice(product_id=chair, price=Decimal("9.00")))
    third = await world.do(c.ChangePrice(product_id=lamp, price=Decimal("13.00")))
    await world.fold()
    changes = await world.changes(before)
    if world.projection.name == "product_search":
        # Each scope's record holds the keys of every offer changed below it.
        both = ["cha", *LAMP]
        expected = [
            (second, offer_change(chairs, both)),
            (third, offer_change(CATALOG, both)),
            (third, offer_change(shop, both)),
            (third, offer_change(lamps, LAMP)),
        ]
    else:
        expected = [(second, chairs), (third, CATALOG), (third, shop), (third, lamps)]
    assert changes.rows == sorted(expected)
    assert first not in {at for at, _ in changes.rows}
    assert changes.checkpoint == third


async def test_an_offer_change_beside_a_text_change_in_its_category_records_none(
    world: World,
) -> None:
    shop, lamps, chairs, lamp, chair = await _lamp_and_chair(world)
    before = await world.cursor()
    await world.do(c.ChangePrice(product_id=lamp, price=Decimal("11.00")))
    renamed = await world.do(c.UpdateProductDetails(product_id=lamp, name="Lantern"))
    priced = await world.do(c.ChangePrice(product_id=chair, price=Decimal("9.00")))
    await world.fold()
    changes = await world.changes(before)
    plain = [(renamed, s) for s in (CATALOG, shop, lamps)]
    if world.projection.name == "product_search":
        # Chairs alone is not covered by the rename's scopes.
        expected = [*plain, (priced, offer_change(chairs, ["cha", "lam", "sho"]))]
    else:
        expected = [(priced, s) for s in (CATALOG, shop, chairs)]
        expected += [(renamed, lamps)]
    assert changes.rows == sorted(expected)


async def test_a_stock_count_only_a_listing_shows_touches_the_product_alone(
    world: World,
) -> None:
    """The search shows a stock count only on the pages that list the product: a
    stock change that leaves it in stock (or out of it) touches the product's own scope
    there. It still changes the stats of every category above it, and going out of
    stock changes what searches find."""
    shop = await world.category("Shop")
    lamps = await world.category("Lamps", shop)
    lamp = await world.product(lamps)  # 3 in stock
    await world.fold()
    before = await world.cursor()
    restocked = await world.do(c.AdjustStock(product_id=lamp, delta=2, reason="delivery"))
    await world.fold()
    sold_out = await world.do(c.AdjustStock(product_id=lamp, delta=-5, reason="sold"))
    await world.fold()
    changes = await world.changes(before)
    categories = (CATALOG, shop, lamps)
    if world.projection.name == "product_search":
        assert _scopes(changes, restocked) == {product_scope(lamp)}
    else:
        assert _scopes(changes, restocked) == set(categories)
    assert _scopes(changes, sold_out) == _offered(world.projection.name, categories, LAMP)


async def test_rows_come_in_the_order_written_after_the_cursor_asked(world: World) -> None:
    shop = await world.category("Shop")
    product = await world.product(shop)
    checkpoint = await world.fold()
    everything = await world.changes(0)
    assert everything.checkpoint == checkpoint
    assert [at for at, _ in everything.rows] == sorted(at for at, _ in everything.rows)
    assert all(0 < at <= checkpoint for at, _ in everything.rows)
    assert (await world.changes(everything.cursor)).rows == []
    await world.do(c.ChangePrice(product_id=product, price=Decimal("2.00")))
    assert (await world.changes(everything.cursor)).rows == []  # not folded yet


async def test_a_parked_event_applied_again_comes_after_the_cursor(world: World) -> None:
    """A parked event, folded late at its own older position, is still read by a reader
    whose cursor passed the newer events folded before it."""
    shop = await world.category("Shop")
    lamps = await world.category("Lamps", shop)
    lamp, chair = await world.product(lamps), await world.product(shop)
    await world.fold()
    parked = await world.do(c.ChangePrice(product_id=lamp, price=Decimal("12.00")))
    later = await world.do(c.ChangePrice(product_id=chair, price=Decimal("7.00")))
    events = [e for e in await all_events(world.cat) if e.position > world.folded]
    await world.store.apply(world.projection, [e for e in events if e.position != parked])
    reader = await world.changes(0)
    assert reader.checkpoint == later and _scopes(reader, parked) == set()

    await world.store.apply_parked(world.projection, [e for e in events if e.position == parked])
    retried = await world.changes(reader.cursor)
    assert not retried.gap and retried.checkpoint == later
    touched = _offered(world.projection.name, (CATALOG, shop, lamps), LAMP)
    assert retried.rows == sorted((parked, s) for s in touched)


async def test_old_rows_are_trimmed_now_and_then_and_the_trim_remembered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_scopes, "RETAINED_ROWS", 4)
    monkeypatch.setattr(sqlite_scopes, "TRIM_EVERY", 3)
    shop = await world.category("Shop")
    product = await world.product(shop)
    await world.fold()
    start = await world.cursor()
    assert not (await world.changes(0)).gap  # not 3 rows past the retention yet
    positions = []
    for cents in range(5):
        positions.append(await world.do(c.ChangePrice(product_id=product, price=Decimal(cents))))
        await world.fold()
    assert (await world.changes(0)).gap
    # The lowest cursor a reader may be at and miss nothing: where the trim reached.
    cut = head = await world.cursor()
    while cut > 0 and not (await world.changes(cut - 1)).gap:
        cut -= 1
    assert start < cut <= head - 4
    kept = await world.changes(cut)
    assert not kept.gap and len(kept.rows) == head - cut
    (catalog,) = _offered(world.projection.name, (CATALOG,), LAMP)
    assert (positions[-1], catalog) in kept.rows


async def test_tables_made_anew_are_a_gap_to_a_reader_past_them(world: World) -> None:
    shop = await world.category("Shop")
    await world.product(shop)
    checkpoint = await world.fold()
    cursor = await world.cursor()
    assert cursor > 0
    conn = sqlite3.connect(world.store.path)
    try:
        for suffix in sqlite_scopes.TABLE_SUFFIXES:
            conn.execute(f"DROP TABLE {world.model.prefix}{suffix}")
        conn.commit()
    finally:
        conn.close()
    await world.store.setup(world.projection)  # what a start does
    changes = await world.changes(cursor)
    assert (changes.checkpoint, changes.gap, changes.rows) == (checkpoint, True, [])
    assert not (await world.changes(await world.cursor())).gap


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_running_catalogs_read_models_record_scopes(tmp_path: Path, mode: str) -> None:
    """Folded by the catalog itself: in the write transaction (`sync`, tables in the write
    database) or by a runner into a file of their own (`async`)."""
    modes = {**DEFAULT_MODES, "product_search": mode, "category_stats": mode}
    cat = build_embedded(Settings(data_dir=tmp_path / "data", modes=modes))
    await cat.start()
    try:
        bus = cat.command_bus
        shop = (await bus.dispatch(c.CreateCategory(name="Shop"))).id
        created = c.CreateProduct(
            sku="S-1", name="Lamp", category_id=shop, price=Decimal("1.00"), initial_stock=1
        )
        product = (await bus.dispatch(created)).id
        # Folded apart: beside the creation's category scopes, the offer change's would
        # add nothing, and a batch holding both records none.
        assert await cat.wait_until_caught_up(timeout=10)
        changed = await bus.dispatch(c.ChangePrice(product_id=product, price=Decimal("2.00")))
        assert await cat.wait_until_caught_up(timeout=10)
        for name, model in MODELS.items():
            changes = await model.reads(cat.readers[name]).scope_changes(0)
            assert changes.checkpoint == changed.version
            assert _scopes(changes, changed.version) == _offered(name, (CATALOG, shop), LAMP)
    finally:
        await cat.stop()
        cat.close()
