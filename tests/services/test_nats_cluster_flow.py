"""The services profile on a 3-node NATS cluster, end to end.

An API process, two workers and two racing relays run with `TANDEM_NATS_URL` naming
every node of the test session's cluster and `TANDEM_NATS_REPLICAS=3`. Client sessions
change prices and stock, fill and check out carts, and read everything back with
`min_version`; then the stream and the workers' consumers must be on all three nodes,
every read model must equal a fold of the whole log, and the clients' history must keep
every guarantee of the consistency checker. And the relay names the servers it
publishes to, never their passwords.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.chaos.runner import check_log, log_events, wait_converged
from tests.chaos.workload import Workload, seed
from tests.support.consistency import History, check, tally
from tests.support.deployment import ServicesDeployment
from tests.support.nats_cluster import NatsCluster
from tests.support.services_readmodels import differences

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

PARTITIONS = {"product_detail": 2}


async def _replicas(url: str, stream: str) -> dict[str, int]:
    """The replica count of the stream and of each of its consumers."""
    import nats

    nc = await nats.connect(url.split(","))
    try:
        jsm = nc.jsm()
        info = await jsm.stream_info(stream)
        counts = {stream: info.config.num_replicas or 1}
        for consumer in await jsm.consumers_info(stream):
            peers = consumer.cluster.replicas if consumer.cluster is not None else None
            counts[consumer.name] = 1 + len(peers or [])
        return counts
    finally:
        await nc.close()


def test_the_services_profile_on_a_nats_cluster(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    deployment = ServicesDeployment(
        tmp_path / "data",
        {"TANDEM_NATS_REPLICAS": "3"},
        apis=1,
        workers=2,
        relays=2,
        partitions=PARTITIONS,
        nats_url=nats_cluster.url,
    )
    history = History()
    try:
        deployment.start(timeout=120)
        catalog = seed(deployment.url, history, products=8)
        workload = Workload(deployment.url, catalog, history, sessions=3)
        workload.start()
        time.sleep(6)
        workload.stop()
        converged, status = wait_converged(deployment.url, timeout=60)
        assert converged, status
        write_db, read_db = deployment.write_db, deployment.read_db
        assert write_db is not None and read_db is not None
        replicas = asyncio.run(_replicas(nats_cluster.url, deployment.stream))
        assert len(replicas) > 1 and set(replicas.values()) == {3}, replicas
        found = asyncio.run(
            differences(
                deployment.write_db.url, deployment.read_db.url, deployment.prefix, PARTITIONS
            )
        )
        assert found == [], found[:20]
        events = asyncio.run(log_events(write_db.url))
        assert check_log(history.ops, events) == []
        assert workload.errors == []
        assert check(history.ops) == []
        counts = tally(history.ops)
        assert counts["commands acknowledged"] > 0 and counts["reads checked (200)"] > 0, counts
    finally:
        deployment.stop()


def test_the_relay_names_the_servers_it_publishes_to_without_passwords(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    servers = nats_cluster.url.split(",")
    with_password = ",".join(url.replace("nats://", f"nats://relay:{secret}@") for url in servers)
    stream = f"TANDEM_T_{uuid.uuid4().hex[:10].upper()}"
    settings = {
        "TANDEM_NATS_URL": with_password,
        "TANDEM_NATS_STREAM": stream,
        "TANDEM_NATS_REPLICAS": "3",
    }
    deployment = ServicesDeployment(tmp_path / "data", settings)
    deployment.prepare()
    relay = subprocess.Popen(
        [sys.executable, "-m", "catalog", "relay"],
        env=deployment.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert relay.stdout is not None
        started = ""
        while "replicas)" not in started and relay.poll() is None:  # the line is wrapped
            started += relay.stdout.readline()
    finally:
        relay.terminate()
        rest = relay.communicate(timeout=30)[0]
        deployment.stop()
        asyncio.run(_delete_stream(nats_cluster.url, stream))
    assert secret not in started + rest
    hosts = ", ".join(url.removeprefix("nats://") for url in servers)
    said = " ".join(started.split())
    assert f"relay started: NATS at {hosts}, stream {stream} (3 replicas)" in said


async def _delete_stream(url: str, stream: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url.split(","))
    try:
        # A busy cluster may take longer than the client's default 5 s to answer.
        with contextlib.suppress(NotFoundError):
            await nc.jsm(timeout=30).delete_stream(stream)
    finally:
        await nc.close()
