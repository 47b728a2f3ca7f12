"""The services profile on servers of its own: the deployment the faults are aimed at.

Two `tandem serve` behind a failover balancer, two workers and two relays over
JetStream, on fresh PostgreSQL databases of the machine's server and on a Redis (or,
with `redis_cluster`, a Redis Cluster of three masters and three replicas) and a NATS
server (or a NATS cluster of `nats_nodes`) started for this deployment alone
(`tests.support.own_services`, `tests.support.redis_cluster`,
`tests.support.nats_cluster`), so stopping, killing or wiping them touches nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from tandem.unavailable import unavailable
from tests.chaos.balancer import BalancerThread
from tests.support.deployment import ServicesDeployment
from tests.support.nats_cluster import NatsCluster
from tests.support.own_services import OwnNats, OwnRedis
from tests.support.redis_cluster import OwnRedisCluster
from tests.support.server import Server


class OwnServicesDeployment(ServicesDeployment):
    def __init__(
        self,
        root: Path,
        partitions: dict[str, int] | None = None,
        *,
        redis_cluster: bool = False,
        nats_nodes: int = 1,
    ) -> None:
        self.redis_server = OwnRedis(root / "redis")
        self.redis_cluster = OwnRedisCluster(root / "redis-cluster") if redis_cluster else None
        redis_url = self.redis_cluster.url if self.redis_cluster else self.redis_server.url
        super().__init__(
            root / "data", apis=2, workers=2, relays=0, partitions=partitions, redis_url=redis_url
        )
        self.relays_count = 2
        # One NATS server, or a cluster keeping the stream and consumers on every node.
        self.nats_server: OwnNats | NatsCluster = (
            OwnNats(root / "nats") if nats_nodes == 1 else NatsCluster(root / "nats", nats_nodes)
        )
        self.nats_replicas = nats_nodes
        self.balancer: BalancerThread | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "TANDEM_NATS_URL": self.nats_server.url,
            "TANDEM_NATS_STREAM": self.stream,
            "TANDEM_NATS_REPLICAS": str(self.nats_replicas),
        }

    def start(self, timeout: float = 30.0) -> None:
        if self.redis_cluster is not None:
            self.redis_cluster.start()
        else:
            self.redis_server.start()
        self.nats_server.start()
        deadline = time.monotonic() + 180
        while True:  # the machine's PostgreSQL is shared: it may be out of slots a while
            try:
                self.prepare()
                break
            except Exception as exc:
                with contextlib.suppress(Exception):
                    self._drop()  # and create both afresh next time
                slots = "too many clients" in str(getattr(exc, "stderr", ""))
                if not (unavailable(exc) or slots) or time.monotonic() > deadline:
                    raise
                time.sleep(2)
        self.relays = [self._spawn("relay", i) for i in range(self.relays_count)]
        self.workers = [self._spawn_worker(i) for i in range(self.workers_count)]
        self.apis = [Server(self.data_dir, self.env) for _ in range(self.apis_count)]
        for i in range(self.apis_count):
            self._start_api(i, timeout)
        self.balancer = BalancerThread(self.port, [api.url for api in self.apis])
        self.balancer.start()

    def restart_api(self, i: int, timeout: float = 180.0) -> None:
        """SIGKILL API process `i` and start it again on the same port (again, as a
        supervisor would, if it exits while starting: the machine's PostgreSQL is shared
        and may be out of connections for a moment)."""
        self.apis[i].kill()
        self._start_api(i, timeout)

    def _start_api(self, i: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.apis[i].start(timeout)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def revive(self) -> int:
        """Start again every worker or relay that exited on its own; how many."""
        revived = 0
        for i, relay in enumerate(self.relays):
            if relay.poll() is not None:
                self.relays[i] = self._spawn("relay", i)
                revived += 1
        for i, worker in enumerate(self.workers):
            if worker.poll() is not None:
                self.workers[i] = self._spawn_worker(i)
                revived += 1
        return revived

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
            self.balancer = None
        try:
            super().stop()
        finally:
            self.redis_server.stop()
            if self.redis_cluster is not None:
                self.redis_cluster.stop()
            self.nats_server.stop()

    def _drop(self) -> None:
        # The Redis and NATS servers are this deployment's own: they go with it.
        from tests.support.services import drop_database

        deadline = time.monotonic() + 120
        for db in (self.write_db, self.read_db):
            while db is not None:
                try:
                    asyncio.run(drop_database(db))
                    break
                except Exception as exc:  # out of connection slots for a moment
                    if not unavailable(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(2)
        self.write_db = self.read_db = None
