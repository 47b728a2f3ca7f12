"""Events the NATS server will not take: over its maximum payload (an event written
into the log past the log's own bound), or over the stream's maximum message size.

The relay publishes a marker in each one's place and goes on (no stall), counts it on
its `/metrics` and logs its position and size; the stream's chain stays unbroken, and a
projection fed by the stream folds exactly the log, the large events read from the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig
from tests.integration import test_nats_transport as transport
from tests.integration.test_nats_transport import (
    FAST_RETRY,
    Names,
    RecordingProjection,
    SparseLog,
    dump,
    expected_recording,
    relay_until,
    running,
    stream_messages,
)
from tests.support.server import free_port, run_cli
from tests.support.services import NATS_URL, PostgresDatabase

from tandem.projections.runner import ProjectionRunner
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.transport import wire
from tandem.transport.nats.reader import NatsEventReader
from tandem.transport.nats.relay import NatsRelay
from tandem.transport.nats.relay_metrics import serve_metrics

pytestmark = pytest.mark.services

# The transport tests' fixtures: a stream of one's own, a connection, a log written directly.
names = transport.names
nc = transport.nc
sparse_log = transport.sparse_log


def append_large(log: SparseLog, size: int) -> int:
    """One event of about `size` bytes written straight into the log; its position."""
    position = log.head.value + 1
    log.conn.execute(
        "INSERT INTO tandem_events (position, type, schema_version, aggregate_type,"
        " aggregate_id, aggregate_version, recorded_at, correlation_id, causation_id,"
        " data) VALUES (?, 'Ticked', 1, 'tick', ?, 1, ?, 'c', 'c', ?)",
        (position, f"large-{position}", time.time(), f'{{"n": "{"x" * size}"}}'),
    )
    log.head.advance(position)
    return position


async def relay_and_fold(
    log: SparseLog, nc: Client, names: Names, tmp_path: Path, large: list[int]
) -> NatsRelay:
    """Relay the whole log, check the stream and a projection fed by it; the relay."""
    relay = NatsRelay(log.reader, nc, log.head, stream=names.stream, subject_prefix=names.prefix)
    events = await log.events()
    async with running(relay.run()):
        await relay_until(relay, events[-1].position)
    messages = await stream_messages(nc, names.stream)
    positions = [wire.header_position(m.headers, wire.POSITION) for m in messages]
    assert positions == [e.position for e in events], "one message per position, in order"
    previous = 0
    for message, event in zip(messages, events, strict=True):
        assert message.headers is not None
        assert message.headers[wire.PREVIOUS] == str(previous), "the chain is unbroken"
        previous = event.position
        if event.position in large:
            assert int(message.headers[wire.UNPUBLISHABLE]) > 0
        else:
            assert wire.UNPUBLISHABLE not in message.headers
            assert message.data is not None and wire.decode(message.data) == event
    assert relay.unpublishable == len(large)

    store = SqliteProjectionStore(tmp_path / "fold.db")
    reader = NatsEventReader(
        nc, stream=names.stream, subject_prefix=names.prefix, durable="fold", fallback=log.reader
    )
    await reader.start()
    runner = ProjectionRunner(
        RecordingProjection(), store, reader, reader.arrivals, batch_size=100, retry=FAST_RETRY
    )
    try:
        async with running(runner.run()):
            assert await runner.checkpoint.wait_for(events[-1].position, timeout=20)
    finally:
        await reader.close()
        store.close()
    assert dump(tmp_path / "fold.db")["recorded"] == expected_recording(events)
    assert reader.unpublishable == len(large)
    return relay


async def test_an_event_over_the_servers_max_payload_goes_as_a_marker(
    sparse_log: SparseLog,
    nc: Client,
    names: Names,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sparse_log.append(5)
    sparse_log.conn.execute("BEGIN IMMEDIATE")
    large = append_large(sparse_log, nc.max_payload + 100)
    sparse_log.conn.execute("COMMIT")
    sparse_log.append(5)
    caplog.set_level(logging.WARNING, logger="tandem.transport.nats")
    relay = await relay_and_fold(sparse_log, nc, names, tmp_path, [large])
    said = [r.getMessage() for r in caplog.records if "cannot be published" in r.getMessage()]
    assert len(said) == 1 and f"position {large} (" in said[0] and "bytes" in said[0]

    port = free_port()
    server = serve_metrics(relay, "127.0.0.1", port)
    try:
        scraped = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
    assert f'tandem_relay_unpublishable_total{{stream="{names.stream}"}} 1.0' in scraped.text


async def test_an_event_over_the_streams_max_message_size_goes_as_a_marker(
    sparse_log: SparseLog,
    nc: Client,
    names: Names,
    tmp_path: Path,
) -> None:
    await nc.jsm().add_stream(
        StreamConfig(name=names.stream, subjects=[f"{names.prefix}.>"], max_msg_size=4096)
    )
    sparse_log.append(3)
    sparse_log.conn.execute("BEGIN IMMEDIATE")
    large = [append_large(sparse_log, 8000), append_large(sparse_log, 5000)]
    sparse_log.conn.execute("COMMIT")
    sparse_log.append(3)
    await relay_and_fold(sparse_log, nc, names, tmp_path, large)


def test_tandem_relay_serves_its_counters_on_metrics(
    pg_database: PostgresDatabase, names: Names, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TANDEM_DATA_DIR": str(tmp_path),
        "TANDEM_DATABASE_URL": pg_database.url,
        "TANDEM_LEVEL": "1",  # the relay needs no read stores
        "TANDEM_NATS_URL": NATS_URL,
        "TANDEM_NATS_STREAM": names.stream,
        "TANDEM_RELAY_METRICS_PORT": str(port),
    }
    run_cli(env, "migrate")
    log = (tmp_path / "relay.log").open("wb")
    relay = subprocess.Popen(
        [sys.executable, "-m", "catalog", "relay"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.HTTPError:
                assert relay.poll() is None, (tmp_path / "relay.log").read_text()
                assert time.monotonic() < deadline, "the relay's metrics never answered"
                time.sleep(0.1)
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    assert scraped.status_code == 200
    assert f'tandem_relay_unpublishable_total{{stream="{names.stream}"}} 0.0' in scraped.text
