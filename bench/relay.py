"""How fast does the relay move the event log into JetStream? `python -m bench.relay`.

Writes a SQLite event log of N events (sparse positions, ~300-byte payloads, like the
catalog's), then times one relay publishing all of it, batch after batch, to a fresh
stream on the NATS server at --url (or the cluster whose servers it names, separated by
commas, the stream kept by --replicas of them), and a NatsEventReader draining it. The
stream is deleted afterwards. Prints events/s; nothing is written to bench/results.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import nats

from tandem.consistency import VersionWatch
from tandem.eventlog.sqlite import SqliteEventLogReader, create_schema
from tandem.transport.nats.client import server_urls
from tandem.transport.nats.reader import NatsEventReader
from tandem.transport.nats.relay import NatsRelay


def write_log(path: Path, events: int) -> int:
    """A log of `events` events, positions 3 apart; returns the head."""
    payload = '{"name": "%s", "price": "19.99", "attributes": {"colour": "blue"}}' % ("x" * 200)
    with sqlite3.connect(path) as conn:
        create_schema(conn)
        conn.executemany(
            "INSERT INTO tandem_events (position, type, schema_version, aggregate_type,"
            " aggregate_id, aggregate_version, recorded_at, correlation_id, causation_id, data)"
            " VALUES (?, 'ProductRenamed', 1, 'product', ?, 1, ?, 'corr', 'cause', ?)",
            ((3 * i, f"p-{i}", time.time(), payload) for i in range(1, events + 1)),
        )
    return 3 * events


async def run(url: str, events: int, batch_size: int, replicas: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.db"
        head = write_log(path, events)
        reader = SqliteEventLogReader(path, inline=True)
        stream = f"TANDEM_BENCH_{uuid.uuid4().hex[:8].upper()}"
        nc = await nats.connect(server_urls(url))
        try:
            relay = NatsRelay(
                reader,
                nc,
                VersionWatch(head),
                stream=stream,
                subject_prefix=stream.lower(),
                batch_size=batch_size,
                replicas=replicas,
            )
            start = time.perf_counter()
            while await relay.relay_available():
                pass
            elapsed = time.perf_counter() - start
            assert relay.position.value == head and relay.published == events
            print(
                f"relay:  {events:,} events in {elapsed:.2f}s = {events / elapsed:,.0f} events/s"
                f" (batch {batch_size}, {replicas} replicas)"
            )
            await relay.close()

            consumer = NatsEventReader(
                nc,
                stream=stream,
                subject_prefix=stream.lower(),
                durable="bench",
                fallback=reader,
                replicas=replicas,
            )
            start = time.perf_counter()
            await consumer.start()
            position, read = 0, 0
            while position < head:
                batch = await consumer.read_after(position, 500)
                if batch:
                    position, read = batch[-1].position, read + len(batch)
            elapsed = time.perf_counter() - start
            await consumer.close()
            assert read == events and consumer.fallback_events == 0
            print(f"reader: {events:,} events in {elapsed:.2f}s = {events / elapsed:,.0f} events/s")
        finally:
            await nc.jsm().delete_stream(stream)
            await nc.close()
            reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--replicas", type=int, default=1, help="servers keeping the stream")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.events, args.batch_size, args.replicas))


if __name__ == "__main__":
    main()
