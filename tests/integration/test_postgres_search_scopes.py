"""The PostgreSQL search records which answers each batch may have altered: the scopes
of `catalog.read_models.scopes`, read back with the checkpoint in one snapshot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.support.folding import all_events
from tests.support.search_backends import Both

from catalog.domain import commands as c
from catalog.read_models.scopes import (
    CATALOG,
    EVERYTHING,
    ScopeChanges,
    offer_change,
    product_scope,
)

pytestmark = pytest.mark.services


class Shop:
    """Shoes > Running > Trail, and Bags, with a runner in Trail and a tote in Bags."""

    def __init__(self, both: Both) -> None:
        self.both = both

    async def build(self) -> int:
        both = self.both
        self.shoes = await both.category("Shoes")
        self.running = await both.category("Running", self.shoes)
        self.trail = await both.category("Trail", self.running)
        self.bags = await both.category("Bags")
        self.runner = await both.product(self.trail, "Trail runner", price="20.00", stock=3)
        self.tote = await both.product(self.bags, "Canvas tote", price="5.00", stock=1)
        return await both.fold()


# The word keys of the runner's text ("Trail runner", its SKU "SKU0001", its category
# path "Shoes / Running / Trail") and of the tote's ("Canvas tote", "SKU0002", "Bags").
RUNNER = ["run", "sho", "sku", "tra"]
TOTE = ["bag", "can", "sku", "tot"]


def _offered(categories: list[str], keys: list[str]) -> list[str]:
    """What a change to the offer alone of a product with these keys records."""
    return [offer_change(category, keys) for category in categories]


async def _changes(both: Both, after: int) -> ScopeChanges:
    return await both.postgres.scope_changes(after)


async def _cursor(both: Both) -> int:
    """Where a reader that starts now stands."""
    found: int = (await both.postgres.scope_changes(None)).cursor
    return found


async def _last(both: Both) -> int:
    return (await all_events(both.cat))[-1].position


async def test_a_product_change_touches_its_category_and_every_ancestor(both: Both) -> None:
    shop = Shop(both)
    await shop.build()
    before = await _cursor(both)
    await both.do(c.ChangePrice(product_id=shop.runner, price=Decimal("18.00")))
    changed = await _last(both)
    assert await both.fold() == changed

    found = await _changes(both, before)
    categories = [CATALOG, shop.shoes, shop.running, shop.trail]
    assert found == ScopeChanges(
        changed,
        before + 4,
        False,
        sorted((changed, s) for s in _offered(categories, RUNNER)),
    )
    assert (await _changes(both, found.cursor)).rows == []


async def test_a_move_touches_the_categories_before_and_after(both: Both) -> None:
    shop = Shop(both)
    await shop.build()
    before = await _cursor(both)
    await both.do(c.UpdateProductDetails(product_id=shop.runner, category_id=shop.bags))
    moved = await _last(both)
    await both.fold()
    rows = (await _changes(both, before)).rows
    scopes = [CATALOG, shop.shoes, shop.running, shop.trail, shop.bags]
    assert rows == sorted((moved, s) for s in scopes)


async def test_category_events_touch_everything(both: Both) -> None:
    shop = Shop(both)
    await shop.build()
    before = await _cursor(both)
    await both.do(c.RenameCategory(category_id=shop.bags, name="Luggage"))
    renamed = await _last(both)
    await both.category("Hats")
    created = await _last(both)
    await both.fold()
    # One batch: each scope once, at the last position that touched it.
    assert (await _changes(both, before)).rows == [(created, EVERYTHING)]
    assert renamed < created


async def test_a_batch_records_each_scope_once_at_its_last_position(both: Both) -> None:
    shop = Shop(both)
    await shop.build()
    before = await _cursor(both)
    await both.do(c.ChangePrice(product_id=shop.runner, price=Decimal("21.00")))
    await both.do(c.ChangePrice(product_id=shop.tote, price=Decimal("6.00")))
    tote = await _last(both)
    await both.do(c.ChangePrice(product_id=shop.runner, price=Decimal("22.00")))
    runner = await _last(both)
    await both.fold()
    rows = (await _changes(both, before)).rows
    # A category's record holds the keys of every offer changed in it; the catalog's,
    # those of the whole batch.
    assert sorted(rows) == sorted(
        [(tote, offer_change(shop.bags, TOTE))]
        + [(runner, offer_change(CATALOG, sorted({*RUNNER, *TOTE})))]
        + [(runner, s) for s in _offered([shop.shoes, shop.running, shop.trail], RUNNER)]
    )


async def test_an_offer_change_beside_a_text_change_in_its_category_records_none(
    both: Both,
) -> None:
    """A category scope forgets every answer an offer change there could: a batch
    records the offer change only for categories no category scope of it covers."""
    shop = Shop(both)
    await shop.build()
    before = await _cursor(both)
    await both.do(c.ChangePrice(product_id=shop.runner, price=Decimal("21.00")))
    await both.do(c.UpdateProductDetails(product_id=shop.runner, name="Fell runner"))
    renamed = await _last(both)
    await both.do(c.ChangePrice(product_id=shop.tote, price=Decimal("6.00")))
    tote = await _last(both)
    await both.fold()
    rows = (await _changes(both, before)).rows
    plain = [CATALOG, shop.shoes, shop.running, shop.trail]
    assert sorted(rows) == sorted(
        [(renamed, s) for s in plain] + [(tote, offer_change(shop.bags, TOTE))]
    )


async def test_a_stock_count_only_a_listing_shows_touches_the_product_alone(
    both: Both,
) -> None:
    """A stock change that leaves the product in stock changes only the pages that list
    it (they show the count); going out of stock changes what searches find."""
    shop = Shop(both)
    await shop.build()
    before = await _cursor(both)
    await both.do(c.AdjustStock(product_id=shop.runner, delta=2, reason="delivery"))
    await both.do(c.AdjustStock(product_id=shop.runner, delta=-1, reason="sold"))
    restocked = await _last(both)
    await both.fold()
    await both.do(c.AdjustStock(product_id=shop.runner, delta=-4, reason="sold"))
    sold_out = await _last(both)
    await both.fold()
    rows = (await _changes(both, before)).rows
    categories = [CATALOG, shop.shoes, shop.running, shop.trail]
    sold = sorted((sold_out, s) for s in _offered(categories, RUNNER))
    assert rows == [(restocked, product_scope(shop.runner)), *sold]


async def test_the_first_fold_records_everything_it_built(both: Both) -> None:
    shop = Shop(both)
    head = await shop.build()
    found = await _changes(both, 0)
    assert found.checkpoint == head
    assert {s for _, s in found.rows} == {
        EVERYTHING,
        CATALOG,
        shop.shoes,
        shop.running,
        shop.trail,
        shop.bags,
    }
    assert all(position <= head for position, _ in found.rows)


async def test_old_rows_are_trimmed_and_a_reader_behind_them_told(both: Both) -> None:
    both.projection.retained_rows = 2
    both.projection.trim_every = 2  # the first batch, the third, ...
    shop = Shop(both)
    await shop.build()  # batch 1: trims all but its newest two rows
    first = await _cursor(both)
    assert (await _changes(both, 0)).gap
    assert not (await _changes(both, first)).gap
    await both.do(c.ChangePrice(product_id=shop.tote, price=Decimal("5.50")))
    await both.fold()  # batch 2: no trim, two rows
    after_first = await _changes(both, first)
    assert not after_first.gap and len(after_first.rows) == 2
    second = after_first.cursor
    assert second == first + 2
    for cents in range(4):
        await both.do(c.ChangePrice(product_id=shop.tote, price=Decimal(f"6.0{cents}")))
    third = await both.fold()  # batch 3 trims: its own two rows stay
    assert (await _changes(both, first)).gap  # the second batch's rows went
    found = await _changes(both, second)
    assert not found.gap
    assert found.rows == [(third, s) for s in sorted(_offered([CATALOG, shop.bags], TOTE))]
    assert (found.cursor, found.checkpoint) == (second + 2, third)


async def test_a_parked_event_applied_again_comes_after_the_cursor(both: Both) -> None:
    """A parked event, folded late at its own older position, is still read by a reader
    whose cursor passed the newer events folded before it."""
    shop = Shop(both)
    built = await shop.build()
    await both.do(c.ChangePrice(product_id=shop.runner, price=Decimal("19.00")))
    parked = await _last(both)
    await both.do(c.ChangePrice(product_id=shop.tote, price=Decimal("4.00")))
    later = await _last(both)
    events = [e for e in await all_events(both.cat) if e.position > built]
    await both.store.apply(both.projection, [e for e in events if e.position != parked])
    reader = await _changes(both, 0)
    assert reader.checkpoint == later and parked not in {at for at, _ in reader.rows}

    await both.store.apply_parked(both.projection, [e for e in events if e.position == parked])
    retried = await _changes(both, reader.cursor)
    assert not retried.gap and retried.checkpoint == later
    categories = [CATALOG, shop.shoes, shop.running, shop.trail]
    assert retried.rows == sorted((parked, s) for s in _offered(categories, RUNNER))


async def test_tables_made_anew_are_a_gap_to_a_reader_past_them(both: Both) -> None:
    head = await Shop(both).build()
    cursor = await _cursor(both)
    assert cursor > 0
    t = both.projection.tables
    async with both.pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {t.changes} RESTART IDENTITY")
        await conn.execute(f"UPDATE {t.trimmed} SET seq = 0")
    found = await _changes(both, cursor)
    assert (found.checkpoint, found.gap, found.rows) == (head, True, [])
    assert not (await _changes(both, await _cursor(both))).gap


async def test_a_reader_from_now_starts_at_the_checkpoint(both: Both) -> None:
    head = await Shop(both).build()
    now = await both.postgres.scope_changes(None)
    assert (now.checkpoint, now.gap, now.rows) == (head, False, [])
    assert now.cursor == len((await _changes(both, 0)).rows)
