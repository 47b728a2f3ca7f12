"""The faults the chaos runner injects into an `OwnServicesDeployment`, one function each.

Every fault ends with the deployment whole again (a killed process restarted, a stopped
server started on its port), so the runner can wait for convergence and check. Each
says what it did (`Injected`); a worker kill also how long its leases went without an
owner.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from tandem.unavailable import unavailable
from tests.chaos.deployment import OwnServicesDeployment
from tests.chaos.takeover import time_takeover
from tests.support.nats_cluster import NatsCluster, stream_leader
from tests.support.services import PG_ADMIN_URL


@dataclass(frozen=True)
class Injected:
    """What a fault did; for a worker kill, the seconds until every lease the worker
    held had another owner (`math.inf`: not within the bound; None: it held none)."""

    detail: str
    takeover: float | None = None


Fault = Callable[[OwnServicesDeployment, random.Random], Injected]
T = TypeVar("T")


def patiently(make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 300) -> T:
    """Run a check, again while PostgreSQL is out of connection slots: the machine's
    server is shared, and a check that cannot connect has found nothing."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return asyncio.run(make())
        except Exception as exc:
            if not unavailable(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def kill_relay(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    i = rng.randrange(len(d.relays))
    d.restart_relay(i)
    return Injected(f"relay {i}")


def kill_worker(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    """SIGKILL a worker, time the takeover of its leases by the other, restart it."""
    i = rng.randrange(len(d.workers))
    assert d.write_db is not None
    try:
        took = time_takeover(d.write_db.url, d.workers[i].pid, lambda: d.kill_worker(i))
    except Exception as exc:  # the machine's PostgreSQL may be out of slots: not timed
        if not unavailable(exc):
            raise
        took = None
    d.restart_worker(i)  # kills it first if the timing could not
    if took is None:
        return Injected(f"worker {i}, not timed")
    return Injected(f"worker {i}, taken over in {took:.2f} s", takeover=took)


def kill_api(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    i = rng.randrange(len(d.apis))
    d.restart_api(i)
    return Injected(f"api {i}")


def restart_redis(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
    down = rng.uniform(0.5, 3.0)
    d.redis_server.stop(sig)
    time.sleep(down)
    d.redis_server.start()
    return Injected(f"{sig.name}, down {down:.1f} s")


def flush_redis(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    client = redis.Redis.from_url(d.redis_server.url)
    try:
        keys = client.dbsize()
        client.flushall()
    finally:
        client.close()
    return Injected(f"{keys} keys")


def restart_nats(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
    down = rng.uniform(0.5, 3.0)
    d.nats_server.stop(sig)
    time.sleep(down)
    d.nats_server.start()
    return Injected(f"{sig.name}, down {down:.1f} s")


def kill_nats_stream_leader(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    """SIGKILL the node of the deployment's NATS cluster that leads the stream; returns
    once another node leads it. The node stays down: `restart_nats_node` starts it."""
    killed, leader, took = _kill_stream_leader(d)
    return Injected(f"{killed}, {leader} leading after {took:.1f} s")


def kill_nats_leader_and_restart(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    """SIGKILL the node leading the stream, leave it down 0.5-3 s while another leads,
    and start it again on its port and store."""
    killed, leader, took = _kill_stream_leader(d)
    down = rng.uniform(0.5, 3.0)
    time.sleep(down)
    restart_nats_node(d, killed)
    return Injected(f"{killed}, {leader} leading after {took:.1f} s, down {down:.1f} s")


def _kill_stream_leader(d: OwnServicesDeployment) -> tuple[str, str, float]:
    """The node killed, the node leading after it, and the seconds until it did."""
    cluster = d.nats_server
    assert isinstance(cluster, NatsCluster), "the deployment runs one NATS server"
    killed = asyncio.run(_stream_leader(cluster.url, d.stream))
    started = time.monotonic()
    cluster.node(killed).stop(signal.SIGKILL)
    leader = asyncio.run(_stream_leader(cluster.url, d.stream, other_than=killed))
    return killed, leader, time.monotonic() - started


def restart_nats_node(d: OwnServicesDeployment, name: str) -> None:
    """Start a stopped node of the deployment's NATS cluster on its port and store."""
    cluster = d.nats_server
    assert isinstance(cluster, NatsCluster), "the deployment runs one NATS server"
    cluster.node(name).start()


async def _stream_leader(url: str, stream: str, other_than: str | None = None) -> str:
    """The node leading `stream`, once it is not `other_than` (a node just killed)."""
    from tandem.transport.nats.client import connect

    nc = await connect(url)
    try:
        deadline = time.monotonic() + 60
        while (leader := await stream_leader(nc, stream)) == other_than:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{other_than} still leads stream {stream}")
            await asyncio.sleep(0.1)
        return leader
    finally:
        await nc.close()


def terminate_connections(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    assert d.write_db is not None and d.read_db is not None
    names = [d.write_db.name, d.read_db.name]

    async def terminate() -> int:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                names,
            )
        finally:
            await conn.close()
        return len(rows)

    return Injected(f"{patiently(terminate)} connections")


def kill_redis_master(d: OwnServicesDeployment, rng: random.Random) -> Injected:
    """SIGKILL one master of the Redis Cluster; its replica takes over (`takeover`: the
    seconds until it is promoted); the killed node is started again and rejoins as a
    replica."""
    cluster = d.redis_cluster
    assert cluster is not None, "a Redis Cluster fault needs a deployment on a cluster"
    master = rng.choice(cluster.masters_now())
    replica, took = cluster.kill_master(master)
    master.start()
    cluster.wait_ok()
    return Injected(
        f"master :{master.port} killed, replica :{replica.port} promoted in {took:.1f} s",
        takeover=took,
    )


FAULTS: dict[str, Fault] = {
    "SIGKILL relay": kill_relay,
    "SIGKILL worker": kill_worker,
    "SIGKILL API process": kill_api,
    "Redis stopped and restarted": restart_redis,
    "Redis FLUSHALL": flush_redis,
    "NATS stopped and restarted": restart_nats,
    "pg_terminate_backend": terminate_connections,
}

# Faults of a deployment on a Redis Cluster (`OwnServicesDeployment(redis_cluster=True)`).
REDIS_CLUSTER_FAULTS: dict[str, Fault] = {
    "Redis Cluster master SIGKILLed (replica promoted)": kill_redis_master,
}
NATS_CLUSTER_FAULTS: dict[str, Fault] = {
    "SIGKILL NATS stream leader (3-node cluster)": kill_nats_leader_and_restart,
}
"""Faults of a deployment on a NATS cluster (`python -m tests.chaos.runner --nats-nodes 3`),
besides every fault above ("NATS stopped and restarted" then stops the whole cluster)."""
