"""The node leading the JetStream stream SIGKILLed under a mixed workload, then started
again: nothing lost, nothing applied twice, and the stream goes on without it.

The services profile (two API processes, two workers, two racing relays) runs on a
3-node NATS cluster of its own with the stream and consumers on every node
(`TANDEM_NATS_REPLICAS=3`), while client sessions write and read. The node leading the
stream is killed; with it down, the relays must carry on on the new leader (the stream
reaches the log's head, not just the projections, which could also catch up from the
log) and the runner's checks must pass: projections live at the head, every read model
equal to a fold of the log, every acknowledged command in the log once. The node is
started again and must catch up as a replica of the stream; made its leader, it must
hold every log position once and in order. At the end the clients' whole history goes
through the consistency checker.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from tandem.transport.nats.client import connect
from tests.chaos.deployment import OwnServicesDeployment
from tests.chaos.faults import kill_nats_stream_leader, patiently, restart_nats_node
from tests.chaos.runner import PARTITIONS, Report, log_events, start_workload, verify
from tests.chaos.workload import Workload
from tests.support.consistency import History, check, tally
from tests.support.nats_cluster import (
    lead_from,
    relayed_positions,
    relayed_through,
    replica_current,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.chaos,
    pytest.mark.cluster_chaos,
    pytest.mark.timeout(600),
]


async def _stream_holds(url: str, stream: str, position: int) -> bool:
    nc = await connect(url)
    try:
        return await relayed_through(nc, stream, position, timeout=60)
    finally:
        await nc.close()


async def _restarted_node_holds(url: str, stream: str, node: str) -> tuple[bool, bool, list[int]]:
    """Whether `node` caught up as a replica, whether it came to lead the stream, and the
    positions the stream holds as read from it."""
    nc = await connect(url)
    try:
        current = await replica_current(nc, stream, node, timeout=60)
        leads = await lead_from(nc, stream, node)
        return current, leads, await relayed_positions(nc, stream)
    finally:
        await nc.close()


def _log_positions(d: OwnServicesDeployment) -> list[int]:
    assert d.write_db is not None
    url = d.write_db.url
    return sorted(position for position, _ in patiently(lambda: log_events(url)))


def test_killing_the_stream_leader_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(5)
    report = Report(5)
    d = OwnServicesDeployment(tmp_path, partitions=PARTITIONS, nats_nodes=3)
    history = History()
    workload: Workload | None = None
    try:
        workload = start_workload(d, history, sessions=3)
        time.sleep(2)
        injected = kill_nats_stream_leader(d, rng)
        killed = injected.detail.split(",")[0]
        time.sleep(3)  # the workload goes on with the node down
        workload.pause()
        verify(d, history.ops, report, f"stream leader killed ({injected.detail})")
        head = _log_positions(d)[-1]
        assert asyncio.run(_stream_holds(d.nats_server.url, d.stream, head)), (
            f"the stream stays below the log's head {head} with {killed} down"
        )

        workload.resume()
        restart_nats_node(d, killed)
        time.sleep(3)
        workload.pause()
        verify(d, history.ops, report, f"{killed} restarted")
        in_log = _log_positions(d)
        assert asyncio.run(_stream_holds(d.nats_server.url, d.stream, in_log[-1]))
        current, leads, in_stream = asyncio.run(
            _restarted_node_holds(d.nats_server.url, d.stream, killed)
        )
        assert current, f"{killed} did not catch up as a replica of the stream"
        assert leads, f"{killed} never came to lead the stream"
        assert in_stream == in_log, "the stream, read from the restarted node as its leader"

        workload.stop()
        report.violations += workload.errors
        report.violations += check(history.ops)
        counts = tally(history.ops)
        assert counts["commands acknowledged"] > 0 and counts["reads checked (200)"] > 0, counts
        assert report.violations == [], report.violations[:20]
    finally:
        if workload is not None:
            workload.stop()
        d.stop()
