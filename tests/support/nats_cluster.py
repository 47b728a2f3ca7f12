"""A 3-node NATS cluster with JetStream, of the test's own, on spare ports.

Each node is a `nats-server` child process (`tests.support.own_services.OwnServer`)
with its own client, cluster-route and monitoring ports and its own JetStream store
directory; `start` returns once the nodes have elected a JetStream meta leader (read
from each node's `/jsz`) and a stream with 3 replicas can be placed on them. Nodes are
killed and started again on the same ports and stores, as a restarted server would be.

>>> cluster = NatsCluster(tmp_path / "nats")  # doctest: +SKIP
>>> cluster.start()  # doctest: +SKIP
>>> env["TANDEM_NATS_URL"] = cluster.url  # every node, comma-separated  # doctest: +SKIP
>>> cluster.node(leader_name).stop(signal.SIGKILL)  # doctest: +SKIP
>>> cluster.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import urllib.request
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import StreamConfig

from tandem.transport import wire
from tandem.transport.nats.stream import last_relayed
from tests.support.own_services import NATS_SERVER, OwnServer, binary
from tests.support.server import free_port

CLUSTER_NAME = "tandem-test"


class NatsNode(OwnServer):
    """One server of the cluster, configured by a file in its directory."""

    name = "nats"

    def __init__(self, directory: Path, server_name: str) -> None:
        super().__init__(directory)
        self.server_name = server_name
        self.cluster_port = free_port()
        self.monitor_port = free_port()
        self.routes: list[int] = []

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.routes)
        config = self.directory / "nats.conf"
        config.write_text(
            f"server_name: {self.server_name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f'jetstream {{ store_dir: "{self.directory / "jetstream"}" }}\n'
            f"cluster {{ name: {CLUSTER_NAME}, listen: 127.0.0.1:{self.cluster_port},"
            f" routes: [{routes}] }}\n"
        )
        return [binary(NATS_SERVER), "-c", str(config)]

    def meta_leader(self) -> str | None:
        """The JetStream meta leader this node knows of, from its monitoring port."""
        url = f"http://127.0.0.1:{self.monitor_port}/jsz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                jsz = json.load(answer)
        except (OSError, ValueError):
            return None
        leader = (jsz.get("meta_cluster") or {}).get("leader")
        return str(leader) if leader else None


class NatsCluster:
    """`size` nodes routed to each other; `url` names them all, comma-separated."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.nodes = [NatsNode(root / f"n{i}", f"n{i}") for i in range(1, size + 1)]
        for node in self.nodes:
            node.routes = [other.cluster_port for other in self.nodes]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> NatsNode:
        return next(node for node in self.nodes if node.server_name == server_name)

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        self.wait_for_meta_leader(timeout)
        asyncio.run(self._wait_until_placeable(timeout))

    async def _wait_until_placeable(self, timeout: float) -> None:
        """Until a stream on every node can be created: the meta leader may know the
        nodes a moment before it may place streams on them ("no suitable peers")."""
        nc = await nats.connect(self.url.split(","))
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    await nc.jsm().add_stream(
                        StreamConfig(name="PLACEMENT_PROBE", num_replicas=len(self.nodes))
                    )
                    await nc.jsm().delete_stream("PLACEMENT_PROBE")
                    return
                except NatsError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()

    def wait_for_meta_leader(self, timeout: float = 30.0) -> str:
        """Until every running node names the same JetStream meta leader; its name."""
        deadline = time.monotonic() + timeout
        while True:
            leaders = {node.meta_leader() for node in self.nodes if node.running}
            if len(leaders) == 1 and None not in leaders:
                return str(leaders.pop())
            if time.monotonic() > deadline:
                raise RuntimeError(f"the NATS cluster elected no JetStream meta leader: {leaders}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for node in self.nodes:
            node.stop(sig)


async def stream_leader(nc: Client, stream: str, timeout: float = 30.0) -> str:
    """The server leading `stream`, once it has one (during an election it has none)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # A short wait: a request to a leader that died is never answered.
            cluster = (await nc.jsm(timeout=0.5).stream_info(stream)).cluster
            if cluster is not None and cluster.leader:
                return cluster.leader
        except NatsError:
            pass  # no leader to answer yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"stream {stream} has no leader after {timeout} s")
        await asyncio.sleep(0.1)


async def step_down(nc: Client, stream: str, consumer: str | None = None) -> None:
    """Ask the leader of `stream` (or of its `consumer`) to hand over to another node."""
    subject = f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"
    if consumer is not None:
        subject = f"$JS.API.CONSUMER.LEADER.STEPDOWN.{stream}.{consumer}"
    answer = json.loads((await nc.request(subject, b"", timeout=5)).data)
    if not answer.get("success"):
        raise RuntimeError(f"{subject}: {answer}")


async def relayed_positions(nc: Client, stream: str) -> list[int]:
    """The log positions the stream holds, in stream order (the relay's header on each)."""
    state = (await nc.jsm().stream_info(stream)).state
    positions = []
    for seq in range(state.first_seq, state.last_seq + 1):
        msg = await nc.jsm().get_msg(stream, seq)
        positions.append(int((msg.headers or {})[wire.POSITION]))
    return positions


async def relayed_through(nc: Client, stream: str, position: int, timeout: float) -> bool:
    """Whether the stream holds the relayed `position` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(NatsError):
            if (await last_relayed(nc.jsm(), stream)).position >= position:
                return True
        await asyncio.sleep(0.1)
    return False


async def replica_current(nc: Client, stream: str, node: str, timeout: float) -> bool:
    """Whether `node` becomes a replica of `stream` that has caught up with its leader
    (current, online, no lag) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(NatsError):
            cluster = (await nc.jsm().stream_info(stream)).cluster
            for peer in (cluster.replicas or []) if cluster is not None else []:
                if peer.name == node and peer.current and not peer.offline and not peer.lag:
                    return True
        await asyncio.sleep(0.2)
    return False


async def lead_from(nc: Client, stream: str, node: str, attempts: int = 10) -> bool:
    """Step the stream's leader down until `node` leads it; whether it came to."""
    for _ in range(attempts):
        if await stream_leader(nc, stream) == node:
            return True
        with contextlib.suppress(NatsError, RuntimeError):  # no leader to step down yet
            await step_down(nc, stream)
        await asyncio.sleep(0.5)
    return await stream_leader(nc, stream) == node
