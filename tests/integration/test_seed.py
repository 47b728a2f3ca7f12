"""The seed: a deterministic plan of realistic data, loaded through the real write path."""

from __future__ import annotations

import random
import re
from collections import Counter
from decimal import Decimal

import pytest

from catalog.domain import commands as c
from catalog.domain import values
from catalog.read_models.queries import GetProduct
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.seed import MAX_PRICE, MIN_PRICE, SeedPlan, load, plan
from tandem.eventlog import sqlite as sqlite_log


@pytest.fixture(scope="module")
def big() -> SeedPlan:
    return plan(2_000, seed=3)


def _depths(seed_plan: SeedPlan) -> dict[str, int]:
    parents = {cat.id: cat.parent_id for cat in seed_plan.categories}
    depths: dict[str, int] = {}
    for cat in seed_plan.categories:  # parents come first, so one pass suffices
        assert cat.id is not None
        depths[cat.id] = 1 if cat.parent_id is None else depths[cat.parent_id] + 1
    assert depths.keys() == parents.keys()
    return depths


def test_same_inputs_give_identical_plans() -> None:
    first, second = plan(500, seed=7), plan(500, seed=7)
    assert first == second
    assert repr(first) == repr(second)
    assert first.fingerprint() == second.fingerprint()


def test_a_different_seed_gives_a_different_plan() -> None:
    first, second = plan(500, seed=7), plan(500, seed=8)
    assert first.fingerprint() != second.fingerprint()
    assert not set(first.product_ids) & set(second.product_ids)
    assert [p.name for p in first.products] != [p.name for p in second.products]


def test_a_smaller_catalog_is_a_prefix_of_a_larger_one() -> None:
    small, large = plan(100, seed=5), plan(300, seed=5)
    assert small.categories == large.categories
    assert small.products == large.products[:100]


def test_categories_form_a_three_level_tree_of_the_requested_size(big: SeedPlan) -> None:
    depths = _depths(big)
    assert len(big.categories) == 200
    by_level = Counter(depths.values())
    assert set(by_level) == {1, 2, 3}
    assert 6 <= by_level[1] <= 10
    assert all(cat.name.strip() for cat in big.categories)


def test_products_live_in_leaf_categories_only(big: SeedPlan) -> None:
    parents = {cat.parent_id for cat in big.categories}
    used = {p.category_id for p in big.products}
    assert not used & parents
    assert len(used) > 100  # spread over most of the ~150 leaves


def test_products_are_valid_and_realistic(big: SeedPlan) -> None:
    skus = [p.sku for p in big.products]
    assert len(set(skus)) == len(skus)
    assert len(set(big.product_ids)) == len(big.product_ids)
    for product in big.products:
        assert values.money(product.price) == product.price
        assert product.price.as_tuple().exponent == -2
        assert Decimal(f"{MIN_PRICE:.2f}") <= product.price <= Decimal(f"{MAX_PRICE:.2f}")
        assert 2 <= len(product.attributes) <= 5
        assert all(isinstance(v, str) and v for v in product.attributes.values())
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", product.description)) <= 3
        assert 0 < len(product.name) <= 200
        assert product.initial_stock >= 0
    zero = sum(p.initial_stock == 0 for p in big.products) / len(big.products)
    assert 0.05 <= zero <= 0.11
    within = sum(p.initial_stock <= 500 for p in big.products) / len(big.products)
    assert within > 0.95
    prices = sorted(p.price for p in big.products)
    assert prices[len(prices) // 2] < Decimal("150")  # log-normal: most things are cheap
    assert prices[-1] > Decimal("900")  # and a long tail of expensive ones


def test_popularity_is_zipf_skewed_and_reproducible(big: SeedPlan) -> None:
    draws = big.popular_ids(20_000, random.Random(1))
    assert draws == big.popular_ids(20_000, random.Random(1))
    top_20 = Counter(draws).most_common(20)
    # Under Zipf(1) over 2,000 items the top 1% take about 43% of the draws.
    assert sum(n for _, n in top_20) / len(draws) > 0.3
    assert len(big.cum_weights) == len(big.product_ids)


def test_follow_ups_reprice_restock_and_order(big: SeedPlan) -> None:
    kinds = Counter(type(cmd).__name__ for cmd in big.follow_ups)
    assert kinds["ChangePrice"] == 100  # 5% of 2,000, each on a different product
    assert kinds["AdjustStock"] == 80
    assert 20 <= kinds["PlaceOrder"] <= 40  # about one per 50 products
    customers = {cmd.customer for cmd in big.follow_ups if isinstance(cmd, c.PlaceOrder)}
    assert all(re.fullmatch(r"customer-\d{4}", name) for name in customers)


def test_plan_arguments_are_checked() -> None:
    assert len(plan(10, seed=1, categories=20).categories) == 20
    assert len(plan(0, seed=1, categories=1).categories) == 1
    with pytest.raises(ValueError):
        plan(10, seed=1, categories=0)
    with pytest.raises(ValueError):
        plan(-1, seed=1)


async def test_loading_a_plan_writes_it_through_the_command_bus(catalog: EmbeddedRuntime) -> None:
    seed_plan = plan(300, seed=11)
    progress: list[tuple[int, int]] = []

    report = await load(catalog, seed_plan, on_progress=lambda d, t: progress.append((d, t)))

    assert report.products == 300
    assert report.categories == len(seed_plan.categories)
    assert report.orders == sum(isinstance(cmd, c.PlaceOrder) for cmd in seed_plan.follow_ups)
    assert report.commands == seed_plan.total
    assert report.version == catalog.write_db.call(sqlite_log.head) == catalog.head.value
    assert progress[-1] == (seed_plan.total, seed_plan.total)
    assert [d for d, _ in progress] == sorted({d for d, _ in progress})

    assert await catalog.wait_until_caught_up()
    touched = {
        cmd.product_id
        for cmd in seed_plan.follow_ups
        if isinstance(cmd, c.ChangePrice | c.AdjustStock | c.AddToCart)
    }
    untouched = next(p for p in seed_plan.products if p.id not in touched)
    assert untouched.id is not None
    doc = (await catalog.query_bus.ask(GetProduct(product_id=untouched.id))).value
    assert doc["name"] == untouched.name
    assert doc["sku"] == untouched.sku
    assert Decimal(doc["price"]) == untouched.price
    assert doc["stock"] == untouched.initial_stock

    repriced = next(cmd for cmd in seed_plan.follow_ups if isinstance(cmd, c.ChangePrice))
    doc = (await catalog.query_bus.ask(GetProduct(product_id=repriced.product_id))).value
    final = [
        cmd.price
        for cmd in seed_plan.follow_ups
        if isinstance(cmd, c.ChangePrice) and cmd.product_id == repriced.product_id
    ]
    assert Decimal(doc["price"]) == final[-1]
