"""A Redis Cluster of the test's own: three masters with one replica each, on spare ports.

Six `redis-server --cluster-enabled yes` processes in a directory of their own, joined
by `redis-cli --cluster create … --cluster-replicas 1`, ready once every node reports
`cluster_state:ok`. Each node is an `OwnServer`, so a fault test can kill a master and
watch its replica take over (`OwnRedisCluster.kill_master`); started again, the killed
node rejoins as a replica of the promoted one.

>>> with OwnRedisCluster(tmp_path / "cluster") as cluster:  # doctest: +SKIP
...     client = redis.asyncio.RedisCluster.from_url(cluster.url)
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.own_services import OwnServer, binary, redis_command

REDIS_CLI = "/usr/bin/redis-cli"
MASTERS = 3
# A node's cluster bus listens on its port + 10000.
BUS_OFFSET = 10_000
# How long a master may be silent before its replica takes over (cluster-node-timeout).
NODE_TIMEOUT_MS = 2000


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """`count` free ports below the ephemeral range whose bus ports (+10000) are free too."""
    found: list[int] = []
    while len(found) < count:
        port = random.randrange(20_000, 30_000)
        if port not in found and _free(port) and _free(port + BUS_OFFSET):
            found.append(port)
    return found


class ClusterNode(OwnServer):
    """One `redis-server` of the cluster, on a fixed port, its state in its directory."""

    name = "redis"

    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(directory)
        self.port = port

    def command(self) -> list[str]:
        return [
            *redis_command(self.port, self.directory),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        ]  # fmt: skip

    def cli(self, *args: str, timeout: float = 10.0) -> str:
        done = subprocess.run(
            [binary(REDIS_CLI), "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout

    def info(self, section: str) -> dict[str, str]:
        """`CLUSTER INFO` or an `INFO` section, as a dict."""
        text = self.cli("cluster", "info") if section == "cluster" else self.cli("info", section)
        return dict(
            line.split(":", 1) for line in text.replace("\r", "").splitlines() if ":" in line
        )


class OwnRedisCluster:
    """Six nodes, three masters and their replicas; `url` names one node with the
    `redis+cluster` scheme Tandem reads as a cluster."""

    def __init__(self, directory: Path, masters: int = MASTERS) -> None:
        ports = cluster_ports(masters * 2)
        self.nodes = [ClusterNode(directory / f"node-{port}", port) for port in ports]
        self.masters = masters

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        create = ["--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"]
        subprocess.run(
            [binary(REDIS_CLI), *create],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every running node says `cluster_state:ok` and sees every master."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = [node for node in self.nodes if node.running]
            states = [node.info("cluster") for node in running]
            if all(
                s.get("cluster_state") == "ok" and s.get("cluster_size") == str(self.masters)
                for s in states
            ) and all(self._replicas_synced(node) for node in running):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    @staticmethod
    def _replicas_synced(node: ClusterNode) -> bool:
        replication = node.info("replication")
        if replication.get("role") == "master":
            return True
        return replication.get("master_link_status") == "up"

    def masters_now(self) -> list[ClusterNode]:
        """The running nodes that are masters now (a failover changes which)."""
        return [n for n in self.nodes if n.running and n.info("replication")["role"] == "master"]

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        for node in self.nodes:
            replication = node.info("replication") if node.running else {}
            if replication.get("role") == "slave" and replication["master_port"] == str(
                master.port
            ):
                return node
        raise LookupError(f"no replica follows the master on port {master.port}")

    def kill_master(self, master: ClusterNode, timeout: float = 30.0) -> tuple[ClusterNode, float]:
        """SIGKILL `master`; wait until its replica is promoted and the cluster is whole
        without it. Returns the replica and the seconds from the kill to its promotion."""
        replica = self.replica_of(master)
        killed = time.monotonic()
        master.stop(signal.SIGKILL)
        while replica.info("replication")["role"] != "master":
            if time.monotonic() - killed > timeout:
                raise RuntimeError(f"no failover of port {master.port} within {timeout} s")
            time.sleep(0.05)
        took = time.monotonic() - killed
        self.wait_ok(timeout)
        return replica, took

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> OwnRedisCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
