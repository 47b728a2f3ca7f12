"""Loading a seed plan fast into an empty catalog: many commands per transaction.

`catalog.seed.load` sends each command down the ordinary write path, one at a time.
The loaders here run the same commands on the domain aggregates as their handlers would
(the rules and events are the domain's, each command with its own correlation id), then
write many commands per transaction: the changed aggregates through the catalog's own
savers, the events in command order, so the log and the write tables agree as after
`load`. Projections fold the result afterwards as they would after `load`.

- `bulk_load`: services profile (PostgreSQL, horizon event log); positions derive from
  the transaction id as every append does.
- `bulk_load_sqlite`: embedded profile, into the write database file before the catalog
  starts; positions are SQLite row ids as every append does.
"""

from __future__ import annotations

import asyncio
import copy
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from catalog.domain import commands as c
from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.order import Order
from catalog.domain.product import Product
from catalog.seed import SeedPlan, SeedReport
from tandem.aggregate import Aggregate
from tandem.codec import EventRegistry
from tandem.eventlog.base import NewEvent
from tandem.eventlog.postgres import INDEX_BITS, MAX_EVENTS_PER_TRANSACTION, NOTIFY_CHANNEL
from tandem.messages import Command
from tandem.uow import UnitOfWork

if TYPE_CHECKING:
    from catalog.settings import Settings
    from tandem.codec import EventRegistry
    from tandem.db.postgres import Pool

COMMANDS_PER_TRANSACTION = 500
# A batch ends once it holds this many events: far below the positions one transaction
# can number, so the next command's events (an order's are one per line, plus two) fit.
EVENTS_PER_BATCH = MAX_EVENTS_PER_TRANSACTION // 2
# Every event of one bulk transaction in one statement; positions follow the
# transaction id exactly as `tandem.eventlog.postgres.append` numbers them.
_BULK_APPEND = f"""
INSERT INTO tandem_events (position, type, schema_version, aggregate_type, aggregate_id,
    aggregate_version, recorded_at, correlation_id, causation_id, data)
SELECT (pg_current_xact_id()::text::bigint << {INDEX_BITS}) + e.ord - 1, e.type,
    e.schema_version, e.aggregate_type, e.aggregate_id, e.aggregate_version, $6, e.cid,
    e.cid, e.data::jsonb
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[], $7::text[],
    $8::text[]) WITH ORDINALITY AS e(type, schema_version, aggregate_type, aggregate_id,
    aggregate_version, cid, data, ord)
RETURNING position
"""


class _Aggregates:
    """The seed's aggregates in memory: each command applied as its handler applies it."""

    def __init__(self) -> None:
        self.categories: dict[str, Category] = {}
        self.products: dict[str, Product] = {}
        self.carts: dict[str, Cart] = {}
        self.orders: dict[str, Order] = {}

    def apply(self, command: Command) -> list[Aggregate]:
        """Run `command` on the aggregates; the changed ones, in the handler's order."""
        if isinstance(command, c.CreateCategory):
            category = Category.create(command.id or "", command.name, command.parent_id)
            self.categories[category.id] = category
            return [category]
        if isinstance(command, c.CreateProduct):
            if command.category_id not in self.categories:
                raise ValueError(f"category {command.category_id} does not exist")
            product = Product.create(
                command.id or "",
                sku=command.sku,
                name=command.name,
                description=command.description,
                category_id=command.category_id,
                price=command.price,
                currency=command.currency,
                attributes=command.attributes,
                initial_stock=command.initial_stock,
            )
            self.products[product.id] = product
            return [product]
        if isinstance(command, c.ChangePrice):
            product = self.products[command.product_id]
            product.change_price(command.price)
            return [product]
        if isinstance(command, c.AdjustStock):
            product = self.products[command.product_id]
            product.adjust_stock(command.delta, command.reason)
            return [product]
        if isinstance(command, c.AddToCart):
            cart = self.carts.get(command.cart_id) or Cart.open(command.cart_id, command.customer)
            cart.check_owner(command.customer, command.admin)
            cart.add(self.products[command.product_id], command.quantity)
            self.carts[cart.id] = cart
            return [cart]
        if isinstance(command, c.PlaceOrder):
            cart = self.carts[command.cart_id]
            cart.check_owner(command.customer, command.admin)
            products = {pid: self.products[pid] for pid in sorted(cart.lines)}
            order = Order.place(command.order_id or "", cart, products)
            self.orders[order.id] = order
            return [*products.values(), cart, order]
        raise TypeError(f"the bulk seed does not run {type(command).__name__}")


class _Batch:
    """Commands bound for one transaction: the aggregates they changed, their events."""

    def __init__(self, parallel: bool) -> None:
        # Product creations touch disjoint aggregates: such batches may commit in any
        # order, concurrently; every other batch commits alone, in plan order.
        self.parallel = parallel
        self.commands = 0
        self.changed: dict[str, Aggregate] = {}
        self.columns: tuple[list[object], ...] = ([], [], [], [], [], [], [])

    def add(self, uow: UnitOfWork, events: list[NewEvent]) -> None:
        self.commands += 1
        self.changed.update((a.id, a) for a in uow.tracked())
        for event in events:
            self.columns[0].append(event.type)
            self.columns[1].append(event.schema_version)
            self.columns[2].append(event.aggregate_type)
            self.columns[3].append(event.aggregate_id)
            self.columns[4].append(event.aggregate_version)
            self.columns[5].append(uow.metadata.correlation_id)
            self.columns[6].append(orjson.dumps(event.data).decode())

    @property
    def events(self) -> int:
        return len(self.columns[0])

    def freeze(self) -> None:
        """Keep the changed aggregates as they are now: the next batch goes on changing
        them while this one commits."""
        self.changed = {id: copy.deepcopy(a) for id, a in self.changed.items()}

    async def write(self, pool: Pool) -> int:
        """Save the changed aggregates and append the events in one transaction;
        the last position."""
        from catalog.write.postgres import SAVERS

        kinds, schemas, agg_types, agg_ids, agg_versions, cids, data = self.columns
        async with pool.acquire() as conn, conn.transaction():
            for aggregate in self.changed.values():
                await SAVERS[type(aggregate)](conn, aggregate)
            rows = await conn.fetch(
                _BULK_APPEND, kinds, schemas, agg_types, agg_ids, agg_versions, time.time(),
                cids, data,
            )  # fmt: skip
        return max((int(r["position"]) for r in rows), default=0)


def _batches(
    plan: SeedPlan,
    registry: EventRegistry,
    counts: Counter[type],
    commands_per_transaction: int,
    on_progress: Callable[[int, int], None] | None,
) -> Iterator[_Batch]:
    """The plan's commands run on the domain aggregates, in batches of at most
    `commands_per_transaction` commands; product creations never share a batch with
    other commands.

    A batch is handed out before the next command runs, so the aggregates it holds are
    exactly as its own commands left them (the caller freezes them before asking for
    the next batch): a command whose events went to the next batch must not show in
    this batch's saved state.
    """
    aggregates = _Aggregates()
    total = plan.total
    every = max(1, total // 100)
    batch = _Batch(parallel=False)
    for done, command in enumerate(plan.commands(), 1):
        parallel = isinstance(command, c.CreateProduct)
        if batch.commands and (
            batch.parallel != parallel
            or batch.commands >= commands_per_transaction
            or batch.events >= EVENTS_PER_BATCH
        ):
            yield batch
            batch = _Batch(parallel)
        batch.parallel = parallel
        uow = UnitOfWork()
        try:
            for aggregate in aggregates.apply(command):
                uow.track(aggregate)
        except Exception as exc:
            exc.add_note(f"seed command {done} of {total}: {type(command).__name__}")
            raise
        batch.add(uow, uow.collect_events(registry))
        if batch.events > MAX_EVENTS_PER_TRANSACTION:
            raise ValueError(f"seed command {done} overflows a transaction's positions")
        counts[type(command)] += 1
        if on_progress is not None and (done % every == 0 or done == total):
            on_progress(done, total)
    if batch.commands:
        yield batch


async def bulk_seed(
    settings: Settings,
    registry: EventRegistry,
    plan: SeedPlan,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Load `plan` into the empty event log of the settings' profile: the embedded write
    database before a catalog process folds it, or the services write database."""
    if not settings.services:
        return bulk_load_sqlite(settings.write_database, registry, plan, on_progress=on_progress)
    from tandem.db.postgres import create_pool

    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    try:
        return await bulk_load(
            pool, registry, plan, event_log_mode=settings.event_log_mode, on_progress=on_progress
        )
    finally:
        await pool.close()


async def bulk_load(
    pool: Pool,
    registry: EventRegistry,
    plan: SeedPlan,
    *,
    event_log_mode: str = "horizon",
    commands_per_transaction: int = COMMANDS_PER_TRANSACTION,
    concurrency: int = 3,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Load `plan` into an empty services catalog (horizon event log).

    Product creations commit on up to `concurrency` connections at once; categories
    before them and the follow-up traffic after them commit one transaction at a time,
    in order, so every aggregate's versions ascend with positions. The next batch is
    built while the last one commits.
    """
    if event_log_mode != "horizon":
        raise ValueError("bulk_load numbers positions the horizon way: TANDEM_EVENT_LOG_MODE")
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM tandem_events)"):
        raise ValueError("bulk_load needs an empty event log")
    counts: Counter[type] = Counter()
    started = time.perf_counter()
    in_flight: dict[asyncio.Task[int], bool] = {}  # commit → parallel
    versions: list[int] = [0]

    def collect() -> None:
        for task in [t for t in in_flight if t.done()]:
            del in_flight[task]
            versions.append(task.result())

    async def drain() -> None:
        if in_flight:
            await asyncio.wait(in_flight)
            collect()

    try:
        batches = _batches(plan, registry, counts, commands_per_transaction, on_progress)
        for batch in batches:
            batch.freeze()
            if batch.parallel:
                while len(in_flight) >= concurrency or not all(in_flight.values()):
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    collect()
            else:
                await drain()
            in_flight[asyncio.create_task(batch.write(pool))] = batch.parallel
            await asyncio.sleep(0)  # let the commits in flight move on
        await drain()
        # Statistics for the planner, which would otherwise take the tables for empty
        # until autovacuum (where it runs) gets to them; then wake readers of the log as
        # the write path's commit announcer does.
        await pool.execute("ANALYZE")
        await pool.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(max(versions)))
    finally:
        for task in in_flight:
            task.cancel()
    return SeedReport.of(counts, plan.total, max(versions), started)


_SQLITE_APPEND = (
    "INSERT INTO tandem_events (type, schema_version, aggregate_type, aggregate_id,"
    " aggregate_version, recorded_at, correlation_id, causation_id, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def bulk_load_sqlite(
    write_database: Path,
    registry: EventRegistry,
    plan: SeedPlan,
    *,
    commands_per_transaction: int = COMMANDS_PER_TRANSACTION,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Load `plan` into the empty embedded write database at `write_database` (its
    schema created), one transaction per batch, before any catalog process runs on it.
    Sync projections catch up, and asynchronous ones fold, when the catalog starts."""
    from catalog.write.sqlite import SAVERS
    from tandem.db.sqlite import transaction

    counts: Counter[type] = Counter()
    started = time.perf_counter()
    conn = sqlite3.connect(write_database, isolation_level=None)
    try:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM tandem_events)").fetchone()[0]:
            raise ValueError("bulk_load_sqlite needs an empty event log")
        for batch in _batches(plan, registry, counts, commands_per_transaction, on_progress):
            kinds, schemas, agg_types, agg_ids, agg_versions, cids, data = batch.columns
            now = time.time()
            rows = [
                (kind, schema, agg_type, agg_id, version, now, cid, cid, payload.encode())
                for kind, schema, agg_type, agg_id, version, cid, payload in zip(
                    kinds, schemas, agg_types, agg_ids, agg_versions, cids, data, strict=True
                )
            ]
            with transaction(conn):
                for aggregate in batch.changed.values():
                    SAVERS[type(aggregate)](conn, aggregate)
                conn.executemany(_SQLITE_APPEND, rows)
        (version,) = conn.execute("SELECT COALESCE(MAX(position), 0) FROM tandem_events").fetchone()
        conn.execute("ANALYZE")  # statistics for the planner, as after a day of traffic
    finally:
        conn.close()
    return SeedReport.of(counts, plan.total, int(version), started)
