"""The services profile as real processes: API servers and workers behind a proxy.

`ServicesDeployment` has the interface of `tests.support.server.Server` (`url`,
`start`, `stop`, `kill`, `data_dir`, `cli`), so the end-to-end suite runs unchanged
against it: it creates a write and a read database of its own and a Redis key prefix
of its own, migrates, then starts `tandem serve` twice and `tandem worker` twice, with
a round-robin proxy in front of the two servers. `redis_url` points it at another Redis,
such as a Redis Cluster (`redis+cluster://…`, `tests.support.redis_cluster`). With
relays, they and the workers use the machine's NATS server, or the servers `nats_url`
names (a cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

from tandem.stores.redis.cluster import cluster_url
from tests.support.proxy import ProxyThread
from tests.support.server import ADMIN_TOKEN, AUTH_FAILURES, Server, free_port, run_cli
from tests.support.services import (
    NATS_URL,
    PG_ADMIN_URL,
    REDIS_URL,
    PostgresDatabase,
    create_database,
    drop_database,
    require,
)


class ServicesDeployment:
    """Two `tandem serve` and two `tandem worker` on fresh databases, behind one URL."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        apis: int = 2,
        workers: int = 2,
        relays: int = 0,
        partitions: dict[str, int] | None = None,
        redis_url: str = REDIS_URL,
        nats_url: str = NATS_URL,
    ) -> None:
        require("PostgreSQL", PG_ADMIN_URL, 5432)
        if redis_url == REDIS_URL:
            require("Redis", REDIS_URL, 6379)
        self.redis_url = redis_url
        if relays and nats_url == NATS_URL:
            require("NATS", NATS_URL, 4222)
        self.nats_url = nats_url
        self.relays_count = relays
        self.partitions = partitions or {}
        self.relays: list[subprocess.Popen[bytes]] = []
        self.stream = f"TANDEM_E2E_{uuid.uuid4().hex[:10].upper()}"
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.apis_count = apis
        self.workers_count = workers
        self.extra_env = env or {}
        self.level = int(self.extra_env.get("TANDEM_LEVEL", "3"))
        self.prefix = f"tandem_e2e_{uuid.uuid4().hex[:10]}"
        self.write_db: PostgresDatabase | None = None
        self.read_db: PostgresDatabase | None = None
        self.apis: list[Server] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.proxy: ProxyThread | None = None

    @property
    def env(self) -> dict[str, str]:
        assert self.write_db is not None and self.read_db is not None
        return {
            **os.environ,
            "TANDEM_DATA_DIR": str(self.data_dir),
            "TANDEM_ADMIN_TOKEN": ADMIN_TOKEN,
            "TANDEM_AUTH_FAILURES": AUTH_FAILURES,
            "TANDEM_DATABASE_URL": self.write_db.url,
            "TANDEM_READ_DATABASE_URL": self.read_db.url,
            "TANDEM_REDIS_URL": self.redis_url,
            "TANDEM_REDIS_PREFIX": self.prefix,
            "TANDEM_PARTITIONS": ",".join(f"{k}={v}" for k, v in self.partitions.items()),
            **(
                {"TANDEM_NATS_URL": self.nats_url, "TANDEM_NATS_STREAM": self.stream}
                if self.relays_count
                else {}
            ),
            **self.extra_env,
        }

    def prepare(self) -> None:
        """Create and migrate the databases (once)."""
        if self.write_db is not None:
            return
        self.write_db = asyncio.run(create_database("tandem_e2e"))
        self.read_db = asyncio.run(create_database("tandem_e2e_read"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli("migrate")

    def cli(self, *args: str) -> str:
        """Run `tandem ARGS…` against this deployment; returns its standard output."""
        self.prepare()
        return run_cli(self.env, *args)

    def start(self, timeout: float = 30.0) -> None:
        self.prepare()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.relays = [self._spawn("relay", i) for i in range(self.relays_count)]
        self.workers = [self._spawn_worker(i) for i in range(self.workers_count)]
        self.apis = [Server(self.data_dir, self.env) for _ in range(self.apis_count)]
        for api in self.apis:
            api.start(timeout)
        self.proxy = ProxyThread(self.port, [api.url for api in self.apis])
        self.proxy.start()
        if self.workers_count and self.level != 1:
            self.wait_for_read_models(timeout)

    def wait_for_read_models(self, timeout: float) -> None:
        """Until the workers run every read model (its storage set up): a read model's
        queries answer 503 before (on a NATS cluster the workers' readers wait for the
        stream's leader first)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = httpx.get(
                    f"{self.apis[0].url}/status",
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                    timeout=5,
                ).json()
                states = {p["name"]: p["state"] for p in status["projections"]}
            except (httpx.HTTPError, ValueError, KeyError):
                states = {}
            if states and set(states.values()) <= {"live", "catching_up"}:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start every read model: {states}")
            time.sleep(0.1)

    def _spawn(self, command: str, i: int) -> subprocess.Popen[bytes]:
        log = (self.data_dir.parent / f"{command}-{i}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "catalog", command], env=self.env, stdout=log, stderr=log
        )

    def _spawn_worker(self, i: int) -> subprocess.Popen[bytes]:
        return self._spawn("worker", i)

    def restart_relay(self, i: int) -> None:
        """SIGKILL relay `i` (mid-batch, as likely as not) and start it again."""
        relay = self.relays[i]
        if relay.poll() is None:
            relay.kill()
            relay.wait(10)
        self.relays[i] = self._spawn("relay", i)

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker `i`: no lease released, no batch finished."""
        worker = self.workers[i]
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)

    def restart_worker(self, i: int) -> None:
        self.kill_worker(i)
        self.workers[i] = self._spawn_worker(i)

    def kill(self) -> None:
        for api in self.apis:
            api.kill()
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        for api in self.apis:
            api.stop()
        for child in [*self.workers, *self.relays]:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
        self.apis, self.workers, self.relays = [], [], []
        self._drop()

    def _delete_stream(self) -> None:
        async def delete() -> None:
            import nats
            from nats.js.errors import NotFoundError

            nc = await nats.connect(self.nats_url.split(","))
            try:  # a busy cluster may take longer than the client's default 5 s
                with contextlib.suppress(NotFoundError):
                    await nc.jetstream(timeout=30).delete_stream(self.stream)
            finally:
                await nc.close()

        asyncio.run(delete())

    def _drop(self) -> None:
        if self.relays_count:
            self._delete_stream()
        for db in (self.write_db, self.read_db):
            if db is not None:
                asyncio.run(drop_database(db))
        self.write_db = self.read_db = None
        plain = cluster_url(self.redis_url)
        client = (
            redis.Redis.from_url(self.redis_url)
            if plain is None
            else redis.RedisCluster.from_url(plain)
        )
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()
