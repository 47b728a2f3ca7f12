"""The Redis read models answer every query exactly as the SQLite ones do.

A real embedded catalog writes a history; its whole event log is folded into both the
SQLite read models and their Redis counterparts, and every query is asked of both.
What each backend must answer, written out by hand from the domain's meaning rather
than taken from SQLite, is the read-model contract (`tests/contracts/read_models/`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.support.folding import all_events
from tests.support.services import REDIS_URL, redis_prefix

from catalog.domain import commands as c
from catalog.domain.errors import DomainError
from catalog.read_models.cart_view.redis import RedisCartViewProjection
from catalog.read_models.cart_view.redis_reads import RedisCartViewReads
from catalog.read_models.cart_view.sqlite import CartViewProjection
from catalog.read_models.cart_view.sqlite_reads import CartViewReads
from catalog.read_models.category_stats.redis import (
    SCOPES,
    RedisCategoryStatsProjection,
)
from catalog.read_models.category_stats.redis_reads import RedisCategoryStatsReads
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.category_stats.sqlite_reads import CategoryStatsReads
from catalog.read_models.order_view.redis import RedisOrderViewProjection
from catalog.read_models.order_view.redis_reads import RedisOrderViewReads
from catalog.read_models.order_view.sqlite import OrderViewProjection
from catalog.read_models.order_view.sqlite_reads import OrderViewReads
from catalog.read_models.product_detail.redis import RedisProductDetailProjection
from catalog.read_models.product_detail.redis_reads import RedisProductDetailReads
from catalog.read_models.product_detail.sqlite import ProductDetailProjection
from catalog.read_models.product_detail.sqlite_reads import ProductDetailReads
from catalog.read_models.queries import (
    GetCart,
    GetCategoryStats,
    GetOrder,
    GetProduct,
    ListCategories,
)
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.bus import QueryBus
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.redis import (
    CheckpointMoved,
    KeyTypeConflict,
    RedisProjectionStore,
    RedisTx,
)
from tandem.stores.sqlite import SqliteProjectionStore

pytestmark = pytest.mark.services

PAIRS: list[tuple[Any, AsyncProjection[RedisTx]]] = [
    (ProductDetailProjection(), RedisProductDetailProjection()),
    (CategoryStatsProjection(), RedisCategoryStatsProjection()),
    (CartViewProjection(), RedisCartViewProjection()),
    (OrderViewProjection(), RedisOrderViewProjection()),
]
REDIS_PROJECTIONS = [redis_side for _, redis_side in PAIRS]


@dataclass
class Service:
    """A Redis client and this test's own key prefix."""

    client: redis.asyncio.Redis
    prefix: str

    def store(self, name: str = "main") -> RedisProjectionStore:
        """A store under its own sub-prefix, so several can be compared side by side."""
        return RedisProjectionStore(self.client, f"{self.prefix}:{name}")


async def delete_prefix(client: redis.asyncio.Redis, prefix: str) -> None:
    """SCAN + DEL of this test's keys only: the server is shared."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    prefix = redis_prefix()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        yield Service(client, prefix)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


# Kept per batch, not per event: how the log was cut into batches shows in them.
BATCH_LOGS = frozenset({SCOPES})


async def dump(store: RedisProjectionStore, projection: AsyncProjection[RedisTx]) -> dict[str, Any]:
    """Every key of the projection's namespace (relative) with its type and value."""
    client, namespace = store.client, store.namespace(projection)
    result: dict[str, Any] = {}
    async for raw in client.scan_iter(match=f"{namespace}*", count=1000):
        key = raw.decode()
        if key.removeprefix(namespace) in BATCH_LOGS:
            continue
        kind = (await client.type(key)).decode()
        if kind == "string":
            value: Any = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "set":
            value = sorted(await client.smembers(key))
        elif kind == "stream":  # entry ids are times: compare the entries' contents
            value = [fields for _id, fields in await client.xrange(key)]
        else:
            value = await client.zrange(key, 0, -1, withscores=True)
        result[key.removeprefix(namespace)] = (kind, value)
    return result


async def dump_all(store: RedisProjectionStore) -> dict[str, Any]:
    return {p.name: await dump(store, p) for p in REDIS_PROJECTIONS}


async def fold(store: RedisProjectionStore, events: list[StoredEvent], chunk: int = 0) -> None:
    """Apply the events to every Redis read model, in one batch or in chunks."""
    for projection in REDIS_PROJECTIONS:
        await store.setup(projection)
        size = chunk or max(len(events), 1)
        for start in range(0, len(events), size):
            await store.apply(projection, events[start : start + size])


class History:
    """A realistic catalog history written through the command bus."""

    def __init__(self, cat: EmbeddedRuntime) -> None:
        self.cat = cat

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def product(
        self, category: str, name: str, price: str, stock: int = 0, currency: str = "USD"
    ) -> str:
        return await self.do(
            c.CreateProduct(
                sku=uuid4().hex[:12],
                name=name,
                description=f"About {name}",
                category_id=category,
                price=Decimal(price),
                currency=currency,
                attributes={"colour": "red"} if stock % 2 else {},
                initial_stock=stock,
            )
        )

    async def add(self, cart: str, product: str, quantity: int, customer: str) -> None:
        await self.do(
            c.AddToCart(cart_id=cart, product_id=product, quantity=quantity, customer=customer)
        )

    async def first_part(self) -> None:
        """Categories three deep, products at every level, price and stock moves."""
        shoes = await self.do(c.CreateCategory(name="Shoes"))
        running = await self.do(c.CreateCategory(name="Running", parent_id=shoes))
        trail = await self.do(c.CreateCategory(name="Trail", parent_id=running))
        boots = await self.do(c.CreateCategory(name="Boots", parent_id=shoes))
        bags = await self.do(c.CreateCategory(name="Bags"))
        await self.do(c.CreateCategory(name="Empty"))
        self.ids = {"shoes": shoes, "running": running, "trail": trail, "bags": bags}
        self.runner = await self.product(trail, "Trail runner", "19.99", stock=3)
        self.road = await self.product(running, "Road runner", "50.00")
        self.boot = await self.product(boots, "Hiking boot", "120.50", stock=7)
        self.tote = await self.product(bags, "Tote", "5.00", stock=6)
        self.euro = await self.product(bags, "Euro bag", "12.00", stock=4, currency="EUR")
        self.twin = await self.product(trail, "Twin", "19.99", stock=2)
        await self.do(c.ChangePrice(product_id=self.runner, price=Decimal("17.5")))
        await self.do(c.AdjustStock(product_id=self.road, delta=5, reason="delivery"))
        await self.do(c.AdjustStock(product_id=self.twin, delta=-2, reason="count"))

    async def second_part(self) -> None:
        """Renames of a parent and a leaf, moves, discontinuation, carts and orders."""
        ids = self.ids
        await self.do(c.RenameCategory(category_id=ids["shoes"], name="Footwear"))
        await self.do(
            c.UpdateProductDetails(
                product_id=self.boot,
                name="Mountain boot",
                attributes={"size": "44"},
                category_id=ids["trail"],
            )
        )
        await self.do(c.RenameCategory(category_id=ids["trail"], name="Off-road"))
        await self.do(c.DiscontinueProduct(product_id=self.road))
        await self.do(c.AdjustStock(product_id=self.road, delta=3, reason="found"))
        late = await self.do(c.CreateCategory(name="Sandals", parent_id=ids["shoes"]))
        await self.product(late, "Flip flop", "3.25", stock=9)

        self.carts = {name: str(uuid4()) for name in ("alice", "bob", "mixed", "ordered")}
        await self.add(self.carts["alice"], self.runner, 1, "alice")
        await self.add(self.carts["alice"], self.tote, 2, "alice")
        await self.add(self.carts["alice"], self.runner, 2, "alice")
        await self.add(self.carts["bob"], self.boot, 1, "bob")
        await self.add(self.carts["bob"], self.tote, 1, "bob")
        await self.do(
            c.RemoveFromCart(cart_id=self.carts["bob"], product_id=self.tote, customer="bob")
        )
        await self.add(self.carts["mixed"], self.tote, 1, "carol")
        await self.add(self.carts["mixed"], self.euro, 1, "carol")
        await self.add(self.carts["ordered"], self.boot, 2, "dave")
        await self.add(self.carts["ordered"], self.tote, 1, "dave")
        kept = await self.do(c.PlaceOrder(cart_id=self.carts["ordered"], customer="dave"))
        await self.add(self.carts["ordered"], self.runner, 1, "dave")
        cancelled_cart = str(uuid4())
        await self.add(cancelled_cart, self.runner, 1, "erin")
        cancelled = await self.do(c.PlaceOrder(cart_id=cancelled_cart, customer="erin"))
        await self.do(c.CancelOrder(order_id=cancelled, customer="erin"))
        self.carts["cancelled"] = cancelled_cart
        self.orders = {"dave": kept, "erin": cancelled}
        # Prices and names move after the lines were added: carts show them, orders not.
        await self.do(c.ChangePrice(product_id=self.tote, price=Decimal("6.10")))
        await self.do(c.UpdateProductDetails(product_id=self.runner, name="All-terrain runner"))
        await self.do(c.RenameCategory(category_id=ids["bags"], name="Luggage"))


class Readers:
    """The SQLite and the Redis reads of all four read models, fed the same events."""

    def __init__(self, tmp: Path, store: RedisProjectionStore) -> None:
        self.sqlite = {
            sqlite_side.name: SqliteProjectionStore(tmp / f"{sqlite_side.name}.db")
            for sqlite_side, _ in PAIRS
        }
        self.redis = store
        self.sqlite_bus, self.redis_bus = QueryBus(), QueryBus()
        ProductDetailReads(self.sqlite["product_detail"].reader).register(self.sqlite_bus)
        CategoryStatsReads(self.sqlite["category_stats"].reader).register(self.sqlite_bus)
        CartViewReads(self.sqlite["cart_view"].reader).register(self.sqlite_bus)
        OrderViewReads(self.sqlite["order_view"].reader).register(self.sqlite_bus)
        for reads in (
            RedisProductDetailReads(store.client, store.prefix),
            RedisCategoryStatsReads(store.client, store.prefix),
            RedisCartViewReads(store.client, store.prefix),
            RedisOrderViewReads(store.client, store.prefix),
        ):
            reads.register(self.redis_bus)

    async def fold(self, events: list[StoredEvent]) -> None:
        for sqlite_side, redis_side in PAIRS:
            store = self.sqlite[sqlite_side.name]
            await store.setup(sqlite_side)
            await store.apply(sqlite_side, events)
            await self.redis.setup(redis_side)
            assert await self.redis.apply(redis_side, events) == events[-1].position

    def close(self) -> None:
        for store in self.sqlite.values():
            store.close()


async def outcome(ask: Callable[[], Awaitable[Any]]) -> Any:
    """The answer, or the error's type and attributes (NotFound, NotOwner)."""
    try:
        return (await ask()).value
    except DomainError as error:
        return (type(error).__name__, str(error), vars(error))


def queries(events: list[StoredEvent]) -> list[Any]:
    """Every query the log makes meaningful, plus unknown ids and strangers."""
    ids: dict[str, list[str]] = {}
    for event in events:
        ids.setdefault(event.type, []).append(event.aggregate_id)
    found: list[Any] = [ListCategories(), GetProduct(product_id=str(uuid4()))]
    found += [GetProduct(product_id=p) for p in ids.get("ProductCreated", [])]
    found += [
        GetCategoryStats(category_id=x) for x in [*ids.get("CategoryCreated", []), str(uuid4())]
    ]
    for cart in [*dict.fromkeys(ids.get("CartOpened", [])), str(uuid4())]:
        found += [GetCart(cart_id=cart, customer="nobody", admin=admin) for admin in (False, True)]
    for order in [*ids.get("OrderPlaced", []), str(uuid4())]:
        found += [GetOrder(order_id=order, customer="nobody", admin=a) for a in (False, True)]
    return found


async def assert_same_answers(readers: Readers, events: list[StoredEvent]) -> int:
    asked = 0
    for query in queries(events):
        want = await outcome(lambda q=query: readers.sqlite_bus.ask(q))
        got = await outcome(lambda q=query: readers.redis_bus.ask(q))
        assert got == want, query
        asked += 1
    # Owners read their own carts and orders too, not only admins and strangers.
    for event in events:
        if event.type == "CartOpened":
            query: Any = GetCart(cart_id=event.aggregate_id, customer=event.data["owner"])
        elif event.type == "OrderPlaced":
            query = GetOrder(order_id=event.aggregate_id, customer=event.data["customer"])
        else:
            continue
        want = await outcome(lambda q=query: readers.sqlite_bus.ask(q))
        assert isinstance(want, dict)
        assert await outcome(lambda q=query: readers.redis_bus.ask(q)) == want
        asked += 1
    return asked


@pytest.fixture
async def history(catalog: EmbeddedRuntime) -> History:
    written = History(catalog)
    await written.first_part()
    await written.second_part()
    return written


async def test_every_query_answers_as_the_sqlite_read_models(
    catalog: EmbeddedRuntime, service: Service, tmp_path: Path
) -> None:
    history = History(catalog)
    readers = Readers(tmp_path, service.store())
    try:
        await history.first_part()
        first = await all_events(catalog)
        await readers.fold(first)
        assert await assert_same_answers(readers, first) > 15

        await history.second_part()
        events = await all_events(catalog)
        await readers.fold(events[len(first) :])
        assert await assert_same_answers(readers, events) > 40

        # Spot checks that the comparison covers what matters, not two empty answers.
        ask = readers.redis_bus.ask
        boot = (await ask(GetProduct(product_id=history.boot))).value
        assert boot["category"]["path"] == ["Footwear", "Running", "Off-road"]
        tote = (await ask(GetProduct(product_id=history.tote))).value
        assert tote["category"]["path"] == ["Luggage"]
        tree = (await ask(ListCategories())).value["categories"]
        assert [n["name"] for n in tree] == ["Empty", "Footwear", "Luggage"]
        alice = (await ask(GetCart(cart_id=history.carts["alice"], customer="alice"))).value
        assert [(x["name"], x["unit_price"]) for x in alice["lines"]] == [
            ("All-terrain runner", "17.50"),
            ("Tote", "6.10"),
        ]
        order = (await ask(GetOrder(order_id=history.orders["erin"], customer="erin"))).value
        assert order["status"] == "cancelled"
    finally:
        readers.close()


async def test_checkpoint_lives_in_the_projection_namespace(
    history: History, service: Service
) -> None:
    events = await all_events(history.cat)
    store = service.store()
    projection = RedisOrderViewProjection()
    assert await store.setup(projection) == 0
    assert await store.apply(projection, events) == events[-1].position
    key = f"{service.prefix}:main:order_view:v1:checkpoint"
    assert store.key(projection, "checkpoint") == key
    assert int(await service.client.get(key)) == events[-1].position
    assert await store.checkpoint("order_view", 1) == events[-1].position
    assert await store.checkpoint("order_view", 2) == 0
    assert await store.setup(projection) == events[-1].position
    assert all(
        k.startswith(f"{service.prefix}:main:order_view:v1:") for k in await dump_keys(service)
    )


async def dump_keys(service: Service) -> list[str]:
    return [k.decode() async for k in service.client.scan_iter(match=f"{service.prefix}:*")]


async def test_redelivered_and_overlapping_batches_have_no_second_effect(
    history: History, service: Service
) -> None:
    events = await all_events(history.cat)
    once = service.store("once")
    await fold(once, events)
    expected = await dump_all(once)

    again = service.store("again")
    await fold(again, events)
    await fold(again, events)
    assert await dump_all(again) == expected

    overlapping = service.store("overlap")
    third = len(events) // 3
    for start, end in [(0, 2 * third), (third, len(events)), (0, len(events))]:
        for projection in REDIS_PROJECTIONS:
            position = await overlapping.apply(projection, events[start:end])
            assert position == events[end - 1].position
    assert await dump_all(overlapping) == expected


async def test_event_by_event_equals_one_batch(history: History, service: Service) -> None:
    events = await all_events(history.cat)
    batch, single = service.store("batch"), service.store("single")
    await fold(batch, events)
    await fold(single, events, chunk=1)
    assert await dump_all(single) == await dump_all(batch)


class Racing(RedisProductDetailProjection):
    """Product detail whose first event lets another writer commit a batch first."""

    def __init__(self, rival: Callable[[], Awaitable[object]]) -> None:
        self.rival: Callable[[], Awaitable[object]] | None = rival

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await rival()
        await super().apply(tx, event)


async def test_a_moved_checkpoint_fences_the_batch_off_and_writes_nothing(
    history: History, service: Service
) -> None:
    events = await all_events(history.cat)
    half = len(events) // 2
    store, reference = service.store("raced"), service.store("reference")
    plain = RedisProductDetailProjection()
    await store.apply(plain, events[:3])
    await reference.apply(plain, events[:half])

    racing = Racing(lambda: store.apply(plain, events[3:half]))
    with pytest.raises(CheckpointMoved) as info:
        await store.apply(racing, events)
    assert (info.value.expected, info.value.actual) == (
        events[2].position,
        events[half - 1].position,
    )
    # Only the rival's batch landed: exactly what one writer folding to `half` wrote.
    assert await dump(store, plain) == await dump(reference, plain)
    # Retrying from the moved checkpoint finishes the job.
    await store.apply(plain, events)
    await reference.apply(plain, events)
    assert await dump(store, plain) == await dump(reference, plain)


class CountingRedis(redis.asyncio.Redis):
    """The real client, counting the script calls it sends."""

    script_calls = 0

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.script_calls += 1
        return await super().evalsha(*args, **kwargs)


def synthetic(count: int) -> list[StoredEvent]:
    """A category and `count - 1` product events, positions 1…count."""

    def event(position: int, type: str, id: str, data: dict[str, Any]) -> StoredEvent:
        return StoredEvent(position, type, 1, "x", id, 1, 0.0, "c", "c", data)

    category = str(uuid4())
    out = [
        event(1, "CategoryCreated", category, {"name": "Bulk", "slug": "bulk", "parent_id": None})
    ]
    products: list[str] = []
    for position in range(2, count + 1):
        if position % 3 or not products:
            products.append(str(uuid4()))
            data = {
                "sku": f"S{position}",
                "name": f"P{position}",
                "description": "",
                "category_id": category,
                "price": f"{position}.00",
                "currency": "USD",
                "stock": position % 4,
                "attributes": {},
            }
            out.append(event(position, "ProductCreated", products[-1], data))
        else:
            data = {"price": "1.00", "previous_price": "2.00", "currency": "USD"}
            out.append(event(position, "PriceChanged", products[position % len(products)], data))
    return out


async def test_a_batch_of_500_events_is_one_script_call(service: Service) -> None:
    client = CountingRedis.from_url(REDIS_URL)
    try:
        store = RedisProjectionStore(client, f"{service.prefix}:bulk")
        events = synthetic(500)
        for projection in (RedisProductDetailProjection(), RedisCategoryStatsProjection()):
            await store.setup(projection)
            before = client.script_calls
            assert await store.apply(projection, events) == 500
            assert client.script_calls - before == 1
        stats = await RedisCategoryStatsReads(client, store.prefix).get_category_stats(
            GetCategoryStats(category_id=events[0].aggregate_id)
        )
        assert stats["product_count"] == sum(e.type == "ProductCreated" for e in events)
    finally:
        await client.aclose()


async def test_unhandled_events_still_move_the_checkpoint(service: Service) -> None:
    store = service.store()
    projection = RedisOrderViewProjection()
    events = synthetic(10)
    assert await store.apply(projection, events) == 10
    assert await store.checkpoint("order_view", 1) == 10
    assert await dump(store, projection) == {"checkpoint": ("string", b"10")}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cuts=st.lists(st.integers(1, 200), max_size=6), overlap=st.integers(0, 5))
async def test_any_split_into_overlapping_batches_equals_one_batch(
    history: History, service: Service, cuts: list[int], overlap: int
) -> None:
    events = await all_events(history.cat)
    reference = service.store("reference")
    if not await reference.checkpoint("cart_view", 1):
        await fold(reference, events)
    expected = await dump_all(reference)

    store = service.store(f"split-{uuid4().hex[:8]}")
    bounds = sorted({0, len(events), *(cut % len(events) for cut in cuts)})
    for projection in REDIS_PROJECTIONS:
        for start, end in pairwise(bounds):
            # Each batch also redelivers the tail of the one before it.
            await store.apply(projection, events[max(0, start - overlap) : end])
    try:
        assert await dump_all(store) == expected
    finally:
        await delete_prefix(service.client, store.prefix)


class Counter(AsyncProjection[RedisTx]):
    """Counts the events it is given: any second effect of a redelivery shows."""

    name = "counter"
    event_types = frozenset({"ProductCreated", "PriceChanged"})

    async def setup(self, tx: RedisTx) -> None:
        tx.hset("counts", {"setup": 1})

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        tx.hincrby("counts", event.type, 1)


async def test_each_event_counts_once_however_batches_overlap(service: Service) -> None:
    store, counter = service.store(), Counter()
    events = synthetic(60)
    assert await store.setup(counter) == 0
    checkpoint = 0
    for start, end in [(0, 20), (10, 30), (0, 30), (5, 25), (25, 60), (0, 60), (59, 60)]:
        checkpoint = max(checkpoint, end)  # positions are 1…60
        assert await store.apply(counter, events[start:end]) == checkpoint
    counts = await service.client.hgetall(store.key(counter, "counts"))
    assert counts == {
        b"setup": b"1",
        b"ProductCreated": str(sum(e.type == "ProductCreated" for e in events)).encode(),
        b"PriceChanged": str(sum(e.type == "PriceChanged" for e in events)).encode(),
    }


# Operations of the overlay test: (command, key, arguments); reads record what they see.
overlay_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(["s1", "s2"]), st.sampled_from(["a", "b"])),
        st.tuples(st.just("get"), st.sampled_from(["s1", "s2"]), st.just("")),
        st.tuples(st.just("mget"), st.just("s1"), st.just("")),
        st.tuples(
            st.sampled_from(["hset", "hset_existing", "hdel"]),
            st.sampled_from(["h1", "h2"]),
            st.sampled_from(["f", "g"]),
        ),
        st.tuples(st.just("hincrby"), st.sampled_from(["h1", "h2"]), st.sampled_from(["n", "m"])),
        st.tuples(st.just("hgetall"), st.sampled_from(["h1", "h2"]), st.just("")),
        st.tuples(st.sampled_from(["sadd", "srem"]), st.just("set1"), st.sampled_from(["x", "y"])),
        st.tuples(st.just("smembers"), st.just("set1"), st.just("")),
        st.tuples(
            st.just("delete"), st.sampled_from(["s1", "s2", "h1", "h2", "set1"]), st.just("")
        ),
    ),
    max_size=25,
)


async def _through_tx(tx: RedisTx, ops: list[tuple[str, str, str]]) -> list[Any]:
    seen: list[Any] = []
    for command, key, arg in ops:
        if command in ("get", "hgetall", "smembers"):
            seen.append(await getattr(tx, command)(key))
        elif command == "mget":
            seen.append((await tx.mget(["s1", "s2"]))[0])
        elif command in ("hset", "hset_existing"):
            getattr(tx, command)(key, {arg: command})
        elif command == "hincrby":
            tx.hincrby(key, arg, 3)
        elif command == "delete":
            tx.delete(key)
        else:
            getattr(tx, command)(key, arg)
    return seen


async def _direct(
    client: redis.asyncio.Redis, ns: str, ops: list[tuple[str, str, str]]
) -> list[Any]:
    """The same operations as plain Redis commands, one at a time."""
    seen: list[Any] = []
    for command, key, arg in ops:
        full = ns + key
        if command == "get":
            seen.append(await client.get(full))
        elif command == "mget":
            seen.append(await client.get(ns + "s1"))
        elif command == "hgetall":
            seen.append(await client.hgetall(full))
        elif command == "smembers":
            seen.append(await client.smembers(full))
        elif command == "set":
            await client.set(full, arg)
        elif command == "hset" or (command == "hset_existing" and await client.exists(full)):
            await client.hset(full, arg, command)
        elif command == "hdel":
            await client.hdel(full, arg)
        elif command == "hincrby":
            await client.hincrby(full, arg, 3)
        elif command == "sadd":
            await client.sadd(full, arg)
        elif command == "srem":
            await client.srem(full, arg)
        elif command == "delete":
            await client.delete(full)
    return seen


class Scripted(AsyncProjection[RedisTx]):
    """Runs the operations of each event's `ops` through the transaction."""

    name = "scripted"
    event_types = frozenset({"Ops"})

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def setup(self, tx: RedisTx) -> None:
        """No keys to create."""

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        self.seen += await _through_tx(tx, event.data["ops"])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=overlay_ops, during=overlay_ops)
# An UPDATE of a missing hash, and writes replayed onto a key first read after them.
@example(before=[], during=[("hset_existing", "h1", "f"), ("hgetall", "h1", "")])
@example(
    before=[("hset", "h1", "f"), ("sadd", "set1", "x")],
    during=[
        ("delete", "h1", ""),
        ("hset_existing", "h1", "g"),
        ("hincrby", "h1", "n"),
        ("srem", "set1", "x"),
        ("sadd", "set1", "y"),
        ("hgetall", "h1", ""),
        ("smembers", "set1", ""),
    ],
)
async def test_reads_in_a_batch_see_redis_plus_its_own_writes(
    service: Service, before: list[tuple[str, str, str]], during: list[tuple[str, str, str]]
) -> None:
    """The overlay answers every read as Redis would after the writes before it."""
    prefix = f"{service.prefix}:overlay-{uuid4().hex[:8]}"
    store, projection = RedisProjectionStore(service.client, prefix), Scripted()
    ns = store.namespace(projection)
    try:
        await _direct(service.client, ns, before)  # what Redis holds when the batch starts
        reference = f"{prefix}:reference:"
        await _direct(service.client, reference, before)
        event = StoredEvent(1, "Ops", 1, "x", "x", 1, 0.0, "c", "c", {"ops": during})
        await store.apply(projection, [event])
        assert projection.seen == await _direct(service.client, reference, during)
        for key in ("s1", "s2", "h1", "h2", "set1"):
            kind = await service.client.type(ns + key)
            assert kind == await service.client.type(reference + key)
            if kind == b"string":
                assert await service.client.get(ns + key) == await service.client.get(
                    reference + key
                )
            elif kind == b"hash":
                assert await service.client.hgetall(ns + key) == await service.client.hgetall(
                    reference + key
                )
            elif kind == b"set":
                assert await service.client.smembers(ns + key) == await service.client.smembers(
                    reference + key
                )
    finally:
        await delete_prefix(service.client, prefix)


async def test_a_key_of_another_type_refuses_the_whole_batch(service: Service) -> None:
    """Redis does not roll back a failing script, so the type check runs before any write."""
    store, projection = service.store(), RedisCartViewProjection()
    lines = store.key(projection, "lines:c1")
    await service.client.set(lines, "not a hash")

    def event(position: int, type: str, data: dict[str, Any]) -> StoredEvent:
        return StoredEvent(position, type, 1, "cart", "c1", position, 0.0, "c", "c", data)

    batch = [
        event(1, "CartOpened", {"owner": "alice"}),
        event(2, "CartItemAdded", {"product_id": "p1", "quantity": 1, "line_quantity": 1}),
    ]
    with pytest.raises(KeyTypeConflict):
        await store.apply(projection, batch)
    assert await dump(store, projection) == {"lines:c1": ("string", b"not a hash")}
    assert await store.checkpoint("cart_view", 1) == 0
