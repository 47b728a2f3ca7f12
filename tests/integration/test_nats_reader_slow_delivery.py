"""A reader whose consumer delivers slowly, but steadily, stays on the stream.

The reader turns to the log when the stream has stopped delivering while the log has
more (`log_check`). Delivery that only lags behind the runner (a replicated consumer on
a busy cluster, here one message per pull request) is not that: the reader waits for it
instead of reading the log, so the log's database is not read once per projection
whenever the runner is faster than the stream.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.client import Client
from tests.integration import test_nats_transport as transport
from tests.integration.test_nats_transport import Names, SparseLog, relay_until, running

from tandem.transport.nats.reader import NatsEventReader
from tandem.transport.nats.relay import NatsRelay

pytestmark = pytest.mark.services

names = transport.names
nc = transport.nc
sparse_log = transport.sparse_log


async def test_a_slowly_delivering_consumer_is_waited_for_not_read_around(
    sparse_log: SparseLog, nc: Client, names: Names
) -> None:
    sparse_log.append(2000)
    events = await sparse_log.events()
    relay = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )
    async with running(relay.run()):
        await relay_until(relay, events[-1].position)
    reader = NatsEventReader(
        nc,
        stream=names.stream,
        subject_prefix=names.prefix,
        durable="slow",
        fallback=sparse_log.reader,
        fetch_batch=1,  # one message per pull request: the runner always waits for more
        max_wait=0.0,
        log_check=0.05,
    )
    await reader.start()
    read: list[int] = []
    started = time.monotonic()
    try:
        while not read or read[-1] < events[-1].position:
            batch = await reader.read_after(read[-1] if read else 0, 100)
            read += [event.position for event in batch]
            if not batch:
                await asyncio.sleep(0.001)
    finally:
        await reader.close()
    assert read == [event.position for event in events]
    assert reader.fallback_events == 0
    assert time.monotonic() - started > 3 * reader.log_check, "drained before any log check"
