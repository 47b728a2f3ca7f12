"""The peer: the Python `eventsourcing` library on the same machine and PostgreSQL.

`python -m bench.peer` (JSON on stdout; the suite runs it), in a fresh database:

- append: an aggregate per product, created through the library's `Application`, then
  `threads` threads (like the write scenario's 16 connections) each loading a random
  product from the repository, changing its price and saving it, for `seconds`;
  events/s of the saves (each saves one event) through the PostgreSQL persistence module;
- catch-up: the library's `ProjectionRunner` with a PostgreSQL tracking recorder as
  the view (one row per product, upserted with the tracking record in one transaction)
  reading every event of the application from the start; events/s until the view has
  tracked the last notification.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import threading
import time
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL

from bench.harness import patiently
from tandem.testing.throwaway import create_database, drop_database


class PeerProduct(Aggregate):
    @event("Created")
    def __init__(self, sku: str, price: str) -> None:
        self.sku = sku
        self.price = price

    @event("PriceChanged")
    def change_price(self, price: str) -> None:
        self.price = price


class PeerCatalog(Application[UUID]):
    def create(self, sku: str, price: str) -> UUID:
        product = PeerProduct(sku, price)
        self.save(product)
        return product.id

    def change_price(self, product_id: UUID, price: str) -> None:
        product: PeerProduct = self.repository.get(product_id)
        product.change_price(price)
        self.save(product)


class PriceView(PostgresTrackingRecorder):
    """Each product's latest price, kept with the tracking record in one transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS peer_prices (id uuid PRIMARY KEY, price text)")
        )

    def put(self, product_id: UUID, price: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO peer_prices (id, price) VALUES (%s, %s)"
                " ON CONFLICT (id) DO UPDATE SET price = excluded.price",
                (product_id, price),
            )
            self._insert_tracking(curs, tracking)


class PriceProjection(Projection[PriceView]):
    name = "peerprices"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _created(self, domain_event: PeerProduct.Created, tracking: Tracking) -> None:
        self.view.put(domain_event.originator_id, domain_event.price, tracking)  # type: ignore[attr-defined]

    @process_event.register
    def _price(self, domain_event: PeerProduct.PriceChanged, tracking: Tracking) -> None:
        self.view.put(domain_event.originator_id, domain_event.price, tracking)  # type: ignore[attr-defined]


def _env(dbname: str, threads: int) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_POOL_SIZE": str(threads + 2),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }


def append(app: PeerCatalog, products: int, threads: int, seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    ids = [app.create(f"SKU-{n}", "9.99") for n in range(products)]
    created = time.perf_counter() - started
    counts = [0] * threads
    conflicts = [0] * threads
    stop = threading.Event()

    def work(slot: int) -> None:
        rng = random.Random(slot)
        while not stop.is_set():
            try:
                app.change_price(rng.choice(ids), f"{rng.randint(100, 90000) / 100:.2f}")
                counts[slot] += 1
            except Exception:  # the library's optimistic-concurrency conflict
                conflicts[slot] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return {
        "create_events_per_s": round(products / created),
        "events_per_s": round(sum(counts) / elapsed),
        "threads": threads,
        "seconds": round(elapsed, 1),
        "events": sum(counts),
        "conflicts": sum(conflicts),
    }


def catch_up(env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Every event into the view, or as many as `timeout` seconds allow."""
    app = PeerCatalog(env)
    last = app.recorder.max_notification_id() or 0
    app.close()
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=PeerCatalog,
        projection_class=PriceProjection,
        view_class=PriceView,
        env=env,
    ) as runner:
        with contextlib.suppress(TimeoutError):
            runner.wait(last, timeout=timeout)
        elapsed = time.perf_counter() - started
        done = runner.view.max_tracking_id(runner.app_name) or 0
    return {
        "events": done,
        "of": last,
        "seconds": round(elapsed, 1),
        "events_per_s": round(done / elapsed),
    }


def run(seconds: float, threads: int, products: int, timeout: float) -> dict[str, Any]:
    db = patiently(lambda: asyncio.run(create_database("tandem_bench_peer")))
    try:
        env = _env(db.name, threads)
        os.environ.update(env)
        app = PeerCatalog(env)
        try:
            appended = append(app, products, threads, seconds)
        finally:
            app.close()
        return {
            "library": "eventsourcing 9.5.6 (eventsourcing.postgres, psycopg 3)",
            "append": appended,
            "catch_up": catch_up(env, timeout),
        }
    finally:
        patiently(lambda: asyncio.run(drop_database(db)))


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--catch-up-timeout", type=float, default=30)
    args = parser.parse_args()
    json.dump(run(args.seconds, args.threads, args.products, args.catch_up_timeout), sys.stdout)
    print()


if __name__ == "__main__":
    main()
