"""For random command sequences, read models built live equal a rebuild from position 0."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain.errors import DomainError
from catalog.read_models.queries import GetProduct
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings
from tandem.errors import TandemError
from tests.support.readmodels import dump_live, rebuild

CUSTOMERS = ("ann", "bob", "cy")

op = st.one_of(
    st.tuples(st.just("category"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("rename"), st.integers(0, 50), st.sampled_from(["Tools", "Garden", "Oak"])),
    st.tuples(
        st.just("product"),
        st.integers(0, 50),
        st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False),
        st.integers(0, 5),
    ),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(
        st.just("price"),
        st.integers(0, 50),
        st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False),
    ),
    st.tuples(st.just("stock"), st.integers(0, 50), st.integers(-4, 6)),
    st.tuples(st.just("discontinue"), st.integers(0, 50)),
    st.tuples(st.just("add"), st.integers(0, 50), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("remove"), st.integers(0, 50), st.integers(0, 2)),
    st.tuples(st.just("checkout"), st.integers(0, 2)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
)


async def _run(ops: list[tuple[object, ...]], data_dir: Path, modes: dict[str, str]) -> Settings:
    conf = Settings(data_dir=data_dir, modes=modes)
    catalog = build_embedded(conf)
    await catalog.start()
    bus = catalog.command_bus
    categories: list[str] = []
    products: list[str] = []
    orders: list[str] = []
    carts = {name: str(uuid.uuid4()) for name in CUSTOMERS}

    def pick(items: list[str], index: object) -> str | None:
        return items[int(str(index)) % len(items)] if items else None

    for serial, step in enumerate(ops, start=1):
        kind = step[0]
        try:
            if kind == "category":
                parent = pick(categories, step[1]) if step[2] else None
                categories.append(
                    (
                        await bus.dispatch(c.CreateCategory(name=f"Cat {serial}", parent_id=parent))
                    ).id
                )
            elif kind == "rename" and (cid := pick(categories, step[1])):
                await bus.dispatch(c.RenameCategory(category_id=cid, name=f"{step[2]} {serial}"))
            elif kind == "product" and (cid := pick(categories, step[1])):
                price = step[2]
                assert isinstance(price, Decimal)
                result = await bus.dispatch(
                    c.CreateProduct(
                        sku=f"SKU-{serial}",
                        name=f"Widget {serial}",
                        category_id=cid,
                        price=price,
                        initial_stock=int(str(step[3])),
                    )
                )
                products.append(result.id)
            elif (
                kind == "move"
                and (pid := pick(products, step[1]))
                and (cid := pick(categories, step[2]))
            ):
                await bus.dispatch(
                    c.UpdateProductDetails(product_id=pid, category_id=cid, name=f"Moved {serial}")
                )
            elif kind == "price" and (pid := pick(products, step[1])):
                price = step[2]
                assert isinstance(price, Decimal)
                await bus.dispatch(c.ChangePrice(product_id=pid, price=price))
            elif kind == "stock" and (pid := pick(products, step[1])) and step[2] != 0:
                await bus.dispatch(
                    c.AdjustStock(product_id=pid, delta=int(str(step[2])), reason="count")
                )
            elif kind == "discontinue" and (pid := pick(products, step[1])):
                await bus.dispatch(c.DiscontinueProduct(product_id=pid))
            elif kind == "add" and (pid := pick(products, step[1])):
                who = CUSTOMERS[int(str(step[2]))]
                await bus.dispatch(
                    c.AddToCart(
                        cart_id=carts[who], product_id=pid, quantity=int(str(step[3])), customer=who
                    )
                )
            elif kind == "remove" and (pid := pick(products, step[1])):
                who = CUSTOMERS[int(str(step[2]))]
                await bus.dispatch(
                    c.RemoveFromCart(cart_id=carts[who], product_id=pid, customer=who)
                )
            elif kind == "checkout":
                who = CUSTOMERS[int(str(step[1]))]
                orders.append(
                    (await bus.dispatch(c.PlaceOrder(cart_id=carts[who], customer=who))).id
                )
                carts[who] = str(uuid.uuid4())
            elif kind == "cancel" and (oid := pick(orders, step[1])):
                await bus.dispatch(c.CancelOrder(order_id=oid, customer="admin", admin=True))
        except (DomainError, TandemError):
            pass  # a rejected command changes nothing; the comparison below checks that too
    assert await catalog.wait_until_caught_up(timeout=30)
    await _agrees_with_write_model(catalog)
    await catalog.stop()
    catalog.close()
    return conf


async def _agrees_with_write_model(catalog: EmbeddedRuntime) -> None:
    """The product detail read model says what the write model holds, product by product."""
    rows = await catalog.write_reader.run(
        lambda conn: conn.execute(
            "SELECT p.id, p.name, p.price, p.stock, p.status, p.category_id, c.name"
            " FROM products p JOIN categories c ON c.id = p.category_id"
        ).fetchall()
    )
    for pid, name, price, stock, status, category_id, category_name in rows:
        doc = (await catalog.query_bus.ask(GetProduct(product_id=pid))).value
        assert (doc["name"], doc["price"], doc["stock"], doc["status"]) == (
            name,
            price,
            stock,
            status,
        )
        assert doc["category"]["id"] == category_id
        assert doc["category"]["name"] == category_name
        assert doc["in_stock"] == (stock > 0)


def _check(ops: list[tuple[object, ...]], modes: dict[str, str], batch_size: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="tandem-prop-"))
    try:
        conf = asyncio.run(_run(ops, root / "live", modes))
        live = dump_live(conf)
        rebuilt = rebuild(conf, root / "rebuilt", batch_size=batch_size)
        assert live.keys() == rebuilt.keys()
        for name in live:
            assert live[name] == rebuilt[name], f"read model {name} differs from its rebuild"
    finally:
        shutil.rmtree(root, ignore_errors=True)


ALL_ASYNC = {"product_detail": "async", "cart_view": "async"}
HYBRID = {"product_detail": "sync", "cart_view": "sync"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=60), batch_size=st.integers(1, 50))
def test_async_read_models_equal_their_rebuild(
    ops: list[tuple[object, ...]], batch_size: int
) -> None:
    _check(ops, ALL_ASYNC, batch_size)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=60), batch_size=st.integers(1, 50))
def test_hybrid_read_models_equal_their_rebuild(
    ops: list[tuple[object, ...]], batch_size: int
) -> None:
    _check(ops, HYBRID, batch_size)
