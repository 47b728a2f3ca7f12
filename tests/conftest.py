"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from catalog.bootstrap import build_embedded
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings
from tests.support.nats_cluster import NatsCluster
from tests.support.redis_cluster import OwnRedisCluster
from tests.support.services import PostgresDatabase, postgres_database


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    """A started catalog on the embedded profile, in its own data directory."""
    cat = build_embedded(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        yield cat
    finally:
        await cat.stop()
        cat.close()


@pytest.fixture
async def pg_database() -> AsyncIterator[PostgresDatabase]:
    """A fresh PostgreSQL database on the machine's server, dropped afterwards."""
    async for db in postgres_database():
        yield db


@pytest.fixture
async def pg_read_database() -> AsyncIterator[PostgresDatabase]:
    """A second fresh database, for read models of the services profile."""
    async for db in postgres_database("tandem_r"):
        yield db


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedisCluster]:
    """A Redis Cluster of the session's own (three masters, one replica each), stopped
    after the last test; each test keeps to its own key prefix on it."""
    with OwnRedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A 3-node NATS cluster with JetStream of the test session's own, on spare ports
    (`TANDEM_NATS_URL` = its `url`); a test that stops a node starts it again."""
    cluster = NatsCluster(tmp_path_factory.mktemp("nats-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Chaos on the clusters (a Redis master, the NATS stream's leader killed) runs in
    `make test-chaos-cluster` (`TANDEM_CLUSTER_CHAOS=1`), not in `make test`: the
    clusters' contract and end-to-end tests run there, within CI's time."""
    if os.environ.get("TANDEM_CLUSTER_CHAOS") == "1":
        return
    dropped = [item for item in items if item.get_closest_marker("cluster_chaos")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("cluster_chaos")]
