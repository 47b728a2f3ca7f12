"""Catch-up of the services read models from a large event log.

`python -m bench.rebuild` (or `make bench-rebuild`), on a fresh database of the
machine's PostgreSQL and a fresh key prefix of its Redis:

1. generates a shop's history through the catalog's aggregates, command by command, so
   every event has the type, payload and aggregate version a command would give it:
   categories, products created over the first part of the log, price changes, stock
   movements, detail edits and moves, a few discontinuations and category renames, and
   carts checked out into orders (some cancelled);
2. bulk-loads it into the event log with `COPY`, one command never split across
   transactions, each transaction's positions derived from its transaction id as
   `tandem.eventlog.postgres` derives them (`xid * 2^16 + index`), so the log's reader
   and its visibility horizon treat the rows exactly like appended ones;
3. folds the whole log with a real `ProjectionRunner` into fresh stores, one projection
   at a time (and then all of them at once), timing from the first read until the
   checkpoint reaches the head, then checks a sample of products against the history.

Results go to bench/results/rebuild.json and .md; the database and keys are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import platform
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio

from bench.harness import Report
from catalog import seed
from catalog import seed_words as words
from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.events import ALL_EVENTS
from catalog.domain.order import Order
from catalog.domain.product import Product
from catalog.migrations import MIGRATIONS
from catalog.read_models.cart_view.redis import RedisCartViewProjection
from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection, category_key
from catalog.read_models.money import cents
from catalog.read_models.order_view.redis import RedisOrderViewProjection
from catalog.read_models.price_history.postgres import PostgresPriceHistoryProjection
from catalog.read_models.product_detail.redis import RedisProductDetailProjection, product_key
from catalog.read_models.product_search.postgres import TABLES, PostgresProductSearchProjection
from catalog.read_models.sales_analytics.postgres import PostgresSalesAnalyticsProjection
from catalog.runtime.services import WORKER_WINDOW
from tandem.aggregate import Aggregate
from tandem.codec import EventRegistry
from tandem.consistency import VersionWatch
from tandem.db.postgres import Pool, create_pool
from tandem.eventlog.base import NewEvent
from tandem.eventlog.postgres import INDEX_BITS, MAX_EVENTS_PER_TRANSACTION, PostgresEventLog
from tandem.eventlog.shared import SharedReads
from tandem.messages import Metadata
from tandem.migrations import migrate
from tandem.projections.base import AsyncProjection
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.stores.postgres import PostgresProjectionStore
from tandem.stores.redis import RedisProjectionStore
from tandem.testing.throwaway import (
    PG_ADMIN_URL,
    REDIS_URL,
    PostgresDatabase,
    create_database,
    delete_prefix,
    drop_database,
)
from tandem.uow import UnitOfWork

TARGET = 25_000  # events/s per projection (quality.md, catch-up)
EVENTS_PER_TRANSACTION = 50_000
CUSTOMERS = 2_000
# Products exist from the start for this share of the catalog; the rest are created
# while the shop runs, spread over the first `CREATION_SPAN` of the log.
IMPORTED_SHARE = 0.2
CREATION_SPAN = 0.7
RENAMES = 20  # category renames spread over the log
# Follow-up commands by weight.
MIX = (
    ("price", 30),
    ("stock", 25),
    ("cart", 20),
    ("details", 10),
    ("cancel", 2),
    ("discontinue", 1),
)
COPY_COLUMNS = (
    "position",
    "type",
    "schema_version",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "recorded_at",
    "correlation_id",
    "causation_id",
    "data",
)

Command = tuple[Metadata, list[NewEvent]]


@dataclass
class History:
    """A shop's history, built through the domain aggregates one command at a time.

    `commands()` yields each command's events, encoded as the unit of work encodes them
    for the log; the aggregates keep the final state for checking the read models.
    """

    events: int
    products: int
    seed: int
    registry: EventRegistry = field(default_factory=EventRegistry)
    categories: dict[str, Category] = field(default_factory=dict)
    catalog: dict[str, Product] = field(default_factory=dict)
    emitted: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.registry.register(*ALL_EVENTS)
        self.rng = random.Random(f"{self.seed}:rebuild")
        self.plan = seed.plan(products=self.products, seed=self.seed)
        self.leaves = sorted({p.category_id for p in self.plan.products})
        self.created: list[str] = []
        self.first_names: dict[str, str] = {}
        self.orders: list[Order] = []
        self.customers = [f"customer-{i + 1:04d}" for i in range(CUSTOMERS)]

    def commands(self) -> Iterator[Command]:
        for create in self.plan.categories:
            category = Category.create(create.id or "", create.name, create.parent_id)
            self.categories[category.id] = category
            yield self._commit(category)
        planned = iter(self.plan.products)
        kinds = [kind for kind, _ in MIX]
        weights = [weight for _, weight in MIX]
        rename_every = max(1, self.events // (RENAMES + 1))
        next_rename = rename_every
        while self.emitted < self.events:
            if self.emitted >= next_rename:
                next_rename += rename_every
                yield from self._rename()
            elif len(self.created) < self._products_due():
                yield from self._create(next(planned))
            else:
                kind = self.rng.choices(kinds, weights)[0]
                yield from getattr(self, f"_{kind}")()

    # -- commands ------------------------------------------------------------------

    def _products_due(self) -> int:
        progress = min(1.0, self.emitted / (self.events * CREATION_SPAN))
        return min(
            self.products, round(self.products * (IMPORTED_SHARE + (1 - IMPORTED_SHARE) * progress))
        )

    def _create(self, cmd: Any) -> Iterator[Command]:
        product = Product.create(
            cmd.id,
            sku=cmd.sku,
            name=cmd.name,
            description=cmd.description,
            category_id=cmd.category_id,
            price=cmd.price,
            currency=cmd.currency,
            attributes=cmd.attributes,
            initial_stock=cmd.initial_stock,
        )
        self.catalog[product.id] = product
        self.created.append(product.id)
        yield self._commit(product)

    def _popular(self) -> Product | None:
        """An active product, drawn with the plan's Zipf popularity among those created."""
        weights = self.plan.cum_weights
        for _ in range(8):
            top = weights[len(self.created) - 1]
            index = bisect.bisect_right(weights, self.rng.random() * top, hi=len(self.created) - 1)
            product = self.catalog[self.created[index]]
            if product.active:
                return product
        return None

    def _price(self) -> Iterator[Command]:
        if (product := self._popular()) is None:
            return
        factor = self.rng.choice((0.7, 0.8, 0.85, 0.9, 1.05, 1.1, 1.15))
        product.change_price(seed._charm_price(self.rng, float(product.price) * factor))
        yield self._commit(product)

    def _stock(self) -> Iterator[Command]:
        if (product := self._popular()) is None:
            return
        if product.stock < 5 or self.rng.random() < 0.6:
            product.adjust_stock(self.rng.randint(20, 200), self.rng.choice(words.STOCK_REASONS_IN))
        else:
            delta = -self.rng.randint(1, min(5, product.stock))
            product.adjust_stock(delta, self.rng.choice(words.STOCK_REASONS_OUT))
        yield self._commit(product)

    def _details(self) -> Iterator[Command]:
        if (product := self._popular()) is None:
            return
        move = self.rng.random() < 0.3
        product.update_details(
            name=f"{product.name.rsplit(' (', 1)[0]} ({self.rng.choice(words.ADJECTIVES)})",
            description=None,
            attributes=None,
            category_id=self.rng.choice(self.leaves) if move else None,
        )
        yield self._commit(product)

    def _discontinue(self) -> Iterator[Command]:
        if (product := self._popular()) is None:
            return
        product.discontinue()
        yield self._commit(product)

    def _cart(self) -> Iterator[Command]:
        customer = self.rng.choice(self.customers)
        cart = Cart.open(seed._new_id(self.rng), customer)
        for _ in range(self.rng.choice((1, 1, 2, 3))):
            product = self._popular()
            if product is None or product.id in cart.lines:
                continue
            quantity = min(product.stock, self.rng.choice((1, 1, 1, 2, 3)))
            if quantity > 0:
                cart.add(product, quantity)
                yield self._commit(cart)
        if not cart.lines:
            return
        if len(cart.lines) > 1 and self.rng.random() < 0.1:
            cart.remove(next(iter(cart.lines)))
            yield self._commit(cart)
        if self.rng.random() < 0.15:
            return  # abandoned
        products = {pid: self.catalog[pid] for pid in sorted(cart.lines)}
        if any(not p.active or p.stock < cart.lines[p.id] for p in products.values()):
            return
        order = Order.place(seed._new_id(self.rng), cart, products)
        self.orders = [*self.orders[-999:], order]
        yield self._commit(*products.values(), cart, order)

    def _cancel(self) -> Iterator[Command]:
        if not self.orders:
            return
        order = self.orders.pop(self.rng.randrange(len(self.orders)))
        products = {pid: self.catalog[pid] for pid in sorted({li.product_id for li in order.lines})}
        order.cancel(products)
        yield self._commit(*products.values(), order)

    def _rename(self) -> Iterator[Command]:
        category = self.categories[self.rng.choice(sorted(self.categories))]
        base = self.first_names.setdefault(category.id, category.name)
        category.rename(f"{self.rng.choice(words.ADJECTIVES)} {base}")
        yield self._commit(category)

    def _commit(self, *aggregates: Aggregate) -> Command:
        uow = UnitOfWork()
        for aggregate in aggregates:
            uow.track(aggregate)
        events = uow.collect_events(self.registry)
        self.emitted += len(events)
        for event in events:
            self.counts[event.type] = self.counts.get(event.type, 0) + 1
        return uow.metadata, events


Row = tuple[Any, ...]


async def load(pool: Pool, history: History) -> int:
    """COPY the history into the event log, one transaction per `EVENTS_PER_TRANSACTION`
    events (a command's events never split); returns the number of events.

    The next transaction's rows are generated while PostgreSQL stores the last ones;
    each transaction only takes its id (for the positions) and copies.
    """
    ready: asyncio.Queue[list[Row] | None] = asyncio.Queue(maxsize=2)

    async def generate() -> None:
        rows: list[Row] = []
        now = time.time()
        for n, (metadata, events) in enumerate(history.commands()):
            if len(rows) + len(events) > EVENTS_PER_TRANSACTION:
                await ready.put(rows)
                rows, now = [], time.time()
            rows.extend(
                (
                    e.type,
                    e.schema_version,
                    e.aggregate_type,
                    e.aggregate_id,
                    e.aggregate_version,
                    now,
                    metadata.correlation_id,
                    metadata.causation_id,
                    orjson.dumps(e.data).decode(),
                )
                for e in events
            )
            if n % 200 == 0:
                await asyncio.sleep(0)  # let the copy in flight move on
        await ready.put(rows)
        await ready.put(None)

    generator = asyncio.create_task(generate())
    total = 0
    try:
        while (rows := await ready.get()) is not None:
            assert len(rows) <= MAX_EVENTS_PER_TRANSACTION
            async with pool.acquire() as conn, conn.transaction():
                xid = int(await conn.fetchval("SELECT pg_current_xact_id()::text::bigint"))
                first = xid << INDEX_BITS
                await conn.copy_records_to_table(
                    "tandem_events",
                    records=[(first + i, *row) for i, row in enumerate(rows)],
                    columns=list(COPY_COLUMNS),
                )
            total += len(rows)
        await generator
    finally:
        generator.cancel()
    await pool.execute("VACUUM ANALYZE tandem_events")
    return total


@dataclass
class Stores:
    """Fresh stores for one fold: a Redis key prefix and a read database."""

    redis: RedisProjectionStore
    search: PostgresProjectionStore
    database: PostgresDatabase
    prefix: str

    @classmethod
    async def fresh(cls, client: redis.asyncio.Redis) -> Stores:
        database = await create_database("tandem_bench_rebuild_read")
        prefix = f"tandem_bench_rebuild_{uuid.uuid4().hex[:8]}"
        search = PostgresProjectionStore(await create_pool(database.url, min_size=1, max_size=4))
        return cls(RedisProjectionStore(client, prefix), search, database, prefix)

    def store_of(self, projection: AsyncProjection[Any]) -> Any:
        """The read database for search and analytics, Redis for the others."""
        return self.search if type(projection) in ON_POSTGRES else self.redis

    async def close(self) -> None:
        await self.search.pool.close()
        await drop_database(self.database)
        await delete_prefix(self.redis.client, self.prefix)


PROJECTIONS: dict[str, type[AsyncProjection[Any]]] = {
    "product_detail": RedisProductDetailProjection,
    "product_search": PostgresProductSearchProjection,
    "category_stats": RedisCategoryStatsProjection,
    "cart_view": RedisCartViewProjection,
    "order_view": RedisOrderViewProjection,
    "sales_analytics": PostgresSalesAnalyticsProjection,
    "price_history": PostgresPriceHistoryProjection,
}
ON_POSTGRES = (
    PostgresProductSearchProjection,
    PostgresSalesAnalyticsProjection,
    PostgresPriceHistoryProjection,
)


async def fold(
    names: list[str], stores: Stores, log: PostgresEventLog, head: int, batch_size: int | None
) -> dict[str, float]:
    """Run the projections' runners (concurrently) from position 0 until each reaches
    `head`; seconds each took from its first read."""
    watch = VersionWatch(head)
    options = {} if batch_size is None else {"batch_size": batch_size}
    # As in a worker process: its runners read the log through one `SharedReads`.
    feed = SharedReads(log, keep=WORKER_WINDOW)
    runners = []
    for name in names:
        projection = PROJECTIONS[name]()
        runner = ProjectionRunner(projection, stores.store_of(projection), feed, watch, **options)
        await runner.start()
        runners.append(runner)

    async def timed(runner: ProjectionRunner) -> float:
        started = time.perf_counter()
        while not await runner.checkpoint.wait_for(head, timeout=1.0):
            if runner.state is ProjectionState.FAILED:
                raise RuntimeError(f"{runner.name} failed: {runner.error}")
        return time.perf_counter() - started

    tasks = [asyncio.create_task(runner.run()) for runner in runners]
    try:
        seconds = await asyncio.gather(*(timed(r) for r in runners))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return dict(zip(names, seconds, strict=True))


async def check(names: list[str], stores: Stores, history: History, sample: int) -> list[str]:
    """Compare a sample of products (and the category totals) with the history."""
    problems: list[str] = []
    rng = random.Random(7)
    ids = rng.sample(history.created, min(sample, len(history.created)))
    client = stores.redis.client
    if "product_detail" in names:
        keys = [stores.redis.key(RedisProductDetailProjection(), product_key(i)) for i in ids]
        for pid, raw in zip(ids, await client.mget(keys), strict=True):
            p = history.catalog[pid]
            doc = orjson.loads(raw) if raw is not None else {}
            want = {
                "price": str(p.price),
                "stock": p.stock,
                "status": p.status,
                "name": p.name,
                "version": p.version,
                "category": history.categories[p.category_id].name,
            }
            got = {k: doc.get(k) for k in want} | {"category": doc.get("category", {}).get("name")}
            if got != want:
                problems.append(f"product_detail {pid}: {got} != {want}")
    if "product_search" in names:
        rows = await stores.search.pool.fetch(
            f"SELECT p.id, o.price, o.stock, o.status, p.name FROM {TABLES.products} p"
            f" JOIN {TABLES.offers} o USING (created_position) WHERE p.id = ANY($1)",
            ids,
        )
        found = {r["id"]: (r["price"], r["stock"], r["status"], r["name"]) for r in rows}
        for pid in ids:
            p = history.catalog[pid]
            want_row = (str(p.price), p.stock, p.status, p.name)
            if found.get(pid) != want_row:
                problems.append(f"product_search {pid}: {found.get(pid)} != {want_row}")
    if "category_stats" in names:
        active = [p for p in history.catalog.values() if p.active]
        roots = [c.id for c in history.categories.values() if c.parent_id is None]
        projection = RedisCategoryStatsProjection()
        count = stock = price = 0
        for root in roots:
            row = await client.hgetall(stores.redis.key(projection, category_key(root)))
            count += int(row.get(b"product_count", 0))
            stock += int(row.get(b"total_stock", 0))
            price += int(row.get(b"price_sum_cents", 0))
        want_totals = (
            len(active),
            sum(p.stock for p in active),
            sum(cents(p.price) for p in active),
        )
        if (count, stock, price) != want_totals:
            problems.append(f"category_stats totals {(count, stock, price)} != {want_totals}")
    pool = stores.search.pool
    if "sales_analytics" in names:
        days = PostgresSalesAnalyticsProjection().tables.days
        orders = await pool.fetchval(f"SELECT coalesce(sum(orders), 0) FROM {days}")
        want_orders = history.counts["OrderPlaced"] - history.counts.get("OrderCancelled", 0)
        if orders != want_orders:
            problems.append(f"sales_analytics orders {orders} != {want_orders}")
    if "price_history" in names:
        points = await pool.fetchval(
            f"SELECT count(*) FROM {PostgresPriceHistoryProjection().table}"
        )
        want_points = history.counts["ProductCreated"] + history.counts.get("PriceChanged", 0)
        if points != want_points:
            problems.append(f"price_history points {points} != {want_points}")
    return problems


async def run(args: argparse.Namespace, report: Report) -> None:
    names = args.projections.split(",")
    unknown = set(names) - set(PROJECTIONS)
    if unknown:
        raise SystemExit(f"unknown projections: {sorted(unknown)}")
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    write_db = await create_database("tandem_bench_rebuild")
    pool = await create_pool(write_db.url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS)
        history = History(args.events, args.products or max(1, args.events // 10), args.seed)
        started = time.perf_counter()
        total = await load(pool, history)
        loaded = time.perf_counter() - started
        log = PostgresEventLog(pool)
        head = await log.head()
        report.meta["events"] = total
        report.meta["products"] = len(history.created)
        report.meta["event_types"] = dict(sorted(history.counts.items()))
        report.scenarios["load"] = {"seconds": round(loaded, 1), "events": total}
        report.row(
            "generate + COPY into the event log",
            f"{total:,} events in {loaded:.1f} s",
            "-",
            "-",
        )
        rounds = [[name] for name in names]
        if args.together and len(names) > 1:
            rounds.append(names)
        for group in rounds:
            stores = await Stores.fresh(client)
            try:
                seconds = await fold(group, stores, log, head, args.batch_size)
                problems = await check(group, stores, history, args.sample)
            finally:
                await stores.close()
            if problems:
                raise SystemExit("read models disagree with the history:\n" + "\n".join(problems))
            label = "alone" if len(group) == 1 else "together"
            for name in group:
                rate = total / seconds[name]
                report.scenarios.setdefault(label, {})[name] = {
                    "seconds": round(seconds[name], 1),
                    "events_per_s": round(rate),
                }
                report.row(
                    f"{name} ({label})",
                    f"{rate:,.0f} events/s ({seconds[name]:.1f} s)",
                    f"target {TARGET:,} events/s",
                    f"{rate / TARGET:.2f}",
                )
    finally:
        await pool.close()
        await drop_database(write_db)
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=0, help="default: events / 10")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--projections", default=",".join(PROJECTIONS))
    parser.add_argument(
        "--batch-size", type=int, default=None, help="events per batch (default: the runner's)"
    )
    parser.add_argument("--sample", type=int, default=2000, help="products checked per fold")
    parser.add_argument(
        "--no-together",
        dest="together",
        action="store_false",
        help="skip folding every projection at once",
    )
    args = parser.parse_args()
    report = Report(
        "rebuild",
        meta={
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "postgres": PG_ADMIN_URL.rsplit("@", 1)[-1],
            "process": "one process, one ProjectionRunner per projection, the log read"
            " through one SharedReads (as in a worker)",
            "batch_size": args.batch_size
            or "the runner's default (500, doubling while behind up to 4,000)",
            "seed": args.seed,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    report.meta["load_average_before"] = _load_average()
    asyncio.run(run(args, report))
    # Other work on the machine slows a fold down: the results say how busy it was.
    report.meta["load_average_after"] = _load_average()
    print(f"results: {report.write()}")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
