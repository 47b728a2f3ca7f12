"""Garbage on the event stream, and undecodable events in the log, while a worker runs.

A projection worker (a `ProjectionRunner` on a `NatsEventReader`, fed by a running
relay) keeps applying the catalog's real events while the stream's subjects receive
bytes that are no relayed event: noise, truncated JSON, wrong chain headers, a message
near the server's size limit, a well-formed envelope of an unknown event type. The
worker must not crash or stall; its read model must equal folding the log directly;
every bad message must be counted (`reader.garbage`) and logged.

Inside the log, an event of a type no projection knows is skipped (projections apply
the types they declare: a newer writer's events do not stop older readers), while an
event of a known type whose data cannot be applied is poison: with the `park` policy it
becomes a dead letter, and the events after it are still applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from tests.support.services import NATS_URL, nats_names, require

from catalog.domain import commands as c
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.sqlite_scopes import TABLE_SUFFIXES
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.base import NewEvent
from tandem.messages import Metadata, StoredEvent
from tandem.projections.runner import PoisonPolicy, ProjectionRunner, ProjectionState, RetryPolicy
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.transport import wire
from tandem.transport.nats.reader import NatsEventReader
from tandem.transport.nats.relay import NatsRelay

pytestmark = pytest.mark.services

FAST_RETRY = RetryPolicy(attempts=2, first_delay=0.02, max_delay=0.05)


@pytest.fixture
async def nc() -> AsyncIterator[tuple[Client, str]]:
    require("NATS", NATS_URL, 4222)
    stream = nats_names()
    client = await nats.connect(NATS_URL)
    try:
        yield client, stream
    finally:
        with contextlib.suppress(NotFoundError):
            await client.jsm().delete_stream(stream)
        await client.close()


async def _commands(cat: EmbeddedRuntime, rounds: int) -> None:
    """Categories and products, their prices and stock: the real events."""
    bus = cat.command_bus
    root = (await bus.dispatch(c.CreateCategory(name=f"Root {uuid.uuid4().hex[:6]}"))).id
    for i in range(rounds):
        leaf = (await bus.dispatch(c.CreateCategory(name=f"Leaf {i}", parent_id=root))).id
        product = c.CreateProduct(
            sku=f"G-{uuid.uuid4().hex[:10]}",
            name=f"Thing {i}",
            category_id=leaf,
            price=Decimal(f"{i + 1}.25"),
            initial_stock=i % 4,
        )
        product_id = (await bus.dispatch(product)).id
        await bus.dispatch(c.AdjustStock(product_id=product_id, delta=3, reason="delivery"))


def _append_raw(cat: EmbeddedRuntime, event: NewEvent) -> int:
    """Append one event to the catalog's log as a writer would; returns its position."""

    def write(conn: sqlite3.Connection) -> int:
        stored = sqlite_log.append(conn, [event], Metadata(correlation_id="g", causation_id="g"))
        if conn.in_transaction:
            conn.commit()
        return stored[0].position

    position = cat.write_db.call(write)
    cat.head.advance(position)
    return position


def _forged(position: int, type_: str) -> bytes:
    """A well-formed relayed-event body of `type_`."""
    event = StoredEvent(
        position=position,
        type=type_,
        schema_version=1,
        aggregate_type="product",
        aggregate_id=str(uuid.uuid4()),
        aggregate_version=1,
        recorded_at=0.0,
        correlation_id="x",
        causation_id="x",
        data={"teleported": True},
    )
    return wire.encode(event)


async def _publish_garbage(client: Client, prefix: str, head: int) -> int:
    """Every kind of bad message onto the stream's subjects; returns how many."""
    js = client.jetstream()
    max_payload = client.max_payload
    messages: list[tuple[str, bytes, dict[str, str] | None]] = [
        (f"{prefix}.product", os.urandom(64), None),
        (f"{prefix}.category", b'{"position": 12, "type": "CategoryCre', None),
        (f"{prefix}.product", b"", {wire.POSITION: "abc", wire.PREVIOUS: "1"}),
        (f"{prefix}.product", b"{}", {wire.POSITION: "5", wire.PREVIOUS: "9"}),
        (f"{prefix}.cart", b"x" * (max_payload - 4096), None),
        # A well-formed envelope of an unknown type, but not a relayed message.
        (f"{prefix}.product", _forged(head + 10_000, "ProductTeleported"), None),
        (f"{prefix}.unknown-aggregate", orjson.dumps({"hello": "world"}), None),
    ]
    for subject, data, headers in messages:
        await js.publish(subject, data, headers=headers)
    return len(messages)


async def _settle(runner: ProjectionRunner, head: int, timeout: float = 30.0) -> None:
    assert await runner.checkpoint.wait_for(head, timeout=timeout), (
        f"stuck at {runner.checkpoint.value} < {head}: {runner.state} {runner.error}"
    )


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0].startswith("cs_") and not row[0].endswith(TABLE_SUFFIXES)
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}


async def test_a_worker_survives_garbage_on_the_stream_and_poison_in_the_log(
    catalog: EmbeddedRuntime,
    nc: tuple[Client, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, stream = nc
    prefix = stream.lower()
    await _commands(catalog, 5)
    relay = NatsRelay(
        catalog.log_reader, client, catalog.head, stream=stream, subject_prefix=prefix
    )
    reader = NatsEventReader(
        client,
        stream=stream,
        subject_prefix=prefix,
        durable="garbage_worker",
        fallback=catalog.log_reader,
    )
    store = SqliteProjectionStore(tmp_path / "worker.db")
    dead_letters = SqliteDeadLetters(tmp_path / "dead-letters.db")
    runner = ProjectionRunner(
        CategoryStatsProjection(),
        store,
        reader,
        reader.arrivals,
        batch_size=50,
        retry=FAST_RETRY,
        policy=PoisonPolicy.PARK,
        dead_letters=dead_letters,
    )
    caplog.set_level(logging.WARNING, logger="tandem")
    relay_task = asyncio.create_task(relay.run())
    await reader.start()
    worker = asyncio.create_task(runner.run())
    try:
        await _settle(runner, catalog.head.value)
        sent = await _publish_garbage(client, prefix, catalog.head.value)
        await _commands(catalog, 5)

        # In the log: an unknown type (skipped), then a known type that cannot be
        # applied (poison, parked), then more real events.
        unknown = _append_raw(
            catalog,
            NewEvent("ProductTeleported", 1, "product", str(uuid.uuid4()), 1, {"to": "mars"}),
        )
        poison = _append_raw(
            catalog,
            NewEvent("CategoryCreated", 1, "category", str(uuid.uuid4()), 1, {"nonsense": 1}),
        )
        sent += await _publish_garbage(client, prefix, catalog.head.value)
        await _commands(catalog, 5)

        await _settle(runner, catalog.head.value)
        assert not worker.done(), worker
        assert runner.state is ProjectionState.LIVE, (runner.state, runner.error)
        # Everything in the stream was read; every bad message was rejected.
        for _ in range(200):
            if reader.garbage >= sent:
                break
            await asyncio.sleep(0.05)
        assert reader.garbage == sent
    finally:
        worker.cancel()
        relay_task.cancel()
        for task in (worker, relay_task):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await reader.close()
        store.close()

    letters = await dead_letters.list("category_stats")
    dead_letters.close()
    assert [letter.position for letter in letters] == [poison]
    assert unknown not in [letter.position for letter in letters]
    rejected = [r for r in caplog.records if "terminating a message" in r.getMessage()]
    assert len(rejected) == sent
    assert any(str(poison) in r.getMessage() for r in caplog.records if "parked" in r.getMessage())

    # The worker's read model equals folding the log without the stream, where the
    # same poison event is parked the same way.
    direct_letters = SqliteDeadLetters(tmp_path / "direct-dead-letters.db")
    direct_store = SqliteProjectionStore(tmp_path / "direct.db")
    direct = ProjectionRunner(
        CategoryStatsProjection(),
        direct_store,
        catalog.log_reader,
        catalog.head,
        retry=FAST_RETRY,
        policy=PoisonPolicy.PARK,
        dead_letters=direct_letters,
    )
    task = asyncio.create_task(direct.run())
    try:
        await _settle(direct, catalog.head.value)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        direct_store.close()
        direct_letters.close()
    assert _dump(tmp_path / "worker.db") == _dump(tmp_path / "direct.db")
    assert _dump(tmp_path / "worker.db")["cs_categories"], "nothing was applied"
