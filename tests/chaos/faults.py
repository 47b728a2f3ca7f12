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

# Faults of a deployment on a Redis Cluster (`OwnServicesDeployment(cluster=True)`).
CLUSTER_FAULTS: dict[str, Fault] = {
    "Redis Cluster master SIGKILLed (replica promoted)": kill_redis_master,
}
