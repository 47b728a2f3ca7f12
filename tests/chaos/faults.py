"""The faults the chaos runner injects into an `OwnServicesDeployment`, one function each.

Every fault ends with the deployment whole again (a killed process restarted, a stopped
server started on its port), so the runner can wait for convergence and check.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import redis

from tandem.unavailable import unavailable
from tests.chaos.deployment import OwnServicesDeployment
from tests.support.services import PG_ADMIN_URL

Fault = Callable[[OwnServicesDeployment, random.Random], str]
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


def kill_relay(d: OwnServicesDeployment, rng: random.Random) -> str:
    i = rng.randrange(len(d.relays))
    d.restart_relay(i)
    return f"relay {i}"


def kill_worker(d: OwnServicesDeployment, rng: random.Random) -> str:
    i = rng.randrange(len(d.workers))
    d.restart_worker(i)
    return f"worker {i}"


def kill_api(d: OwnServicesDeployment, rng: random.Random) -> str:
    i = rng.randrange(len(d.apis))
    d.restart_api(i)
    return f"api {i}"


def restart_redis(d: OwnServicesDeployment, rng: random.Random) -> str:
    sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
    down = rng.uniform(0.5, 3.0)
    d.redis_server.stop(sig)
    time.sleep(down)
    d.redis_server.start()
    return f"{sig.name}, down {down:.1f} s"


def flush_redis(d: OwnServicesDeployment, rng: random.Random) -> str:
    client = redis.Redis.from_url(d.redis_server.url)
    try:
        keys = client.dbsize()
        client.flushall()
    finally:
        client.close()
    return f"{keys} keys"


def restart_nats(d: OwnServicesDeployment, rng: random.Random) -> str:
    sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
    down = rng.uniform(0.5, 3.0)
    d.nats_server.stop(sig)
    time.sleep(down)
    d.nats_server.start()
    return f"{sig.name}, down {down:.1f} s"


def terminate_connections(d: OwnServicesDeployment, rng: random.Random) -> str:
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

    return f"{patiently(terminate)} connections"


FAULTS: dict[str, Fault] = {
    "SIGKILL relay": kill_relay,
    "SIGKILL worker": kill_worker,
    "SIGKILL API process": kill_api,
    "Redis stopped and restarted": restart_redis,
    "Redis FLUSHALL": flush_redis,
    "NATS stopped and restarted": restart_nats,
    "pg_terminate_backend": terminate_connections,
}
