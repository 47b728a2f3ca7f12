from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deployment import ServicesDeployment
from tests.support.server import Server

Deployment = Server | ServicesDeployment

PROFILES = [
    "embedded",
    "embedded-level1",
    pytest.param("embedded-level2", marks=[pytest.mark.slow]),
    pytest.param("services", marks=[pytest.mark.services, pytest.mark.slow]),
    pytest.param("services-nats", marks=[pytest.mark.services, pytest.mark.slow]),
    pytest.param("services-level1", marks=[pytest.mark.services, pytest.mark.slow]),
    pytest.param("services-cluster", marks=[pytest.mark.services, pytest.mark.slow]),
]


# The clusters `services-cluster` runs on, as the `profile` fixture started them.
CLUSTERS: dict[str, str] = {}


def deploy(profile: str, data_dir: Path, env: dict[str, str] | None = None) -> Deployment:
    """One `tandem serve` (embedded), or 2 API processes + 2 workers (services), fed
    by the PostgreSQL transport or by JetStream (with 2 relays racing and product
    detail split into 3 partitions); `-levelN`: at separation level N (at level 1 the
    services profile's one worker idles and no Redis or read database is used);
    `services-cluster`: read models on a Redis Cluster, product detail split into 3
    partitions, and JetStream on a NATS cluster (stream and consumers on its 3 servers)
    with 2 relays, both the session's (`CLUSTERS`); `env`: more settings."""
    more = env or {}
    if profile == "services-cluster":
        return ServicesDeployment(
            data_dir,
            {"TANDEM_NATS_REPLICAS": "3", **more},
            relays=2,
            partitions={"product_detail": 3},
            redis_url=CLUSTERS["redis_url"],
            nats_url=CLUSTERS["nats_url"],
        )
    if profile == "services":
        return ServicesDeployment(data_dir, more)
    if profile == "services-nats":
        return ServicesDeployment(data_dir, more, relays=2, partitions={"product_detail": 3})
    if profile == "services-level1":
        return ServicesDeployment(data_dir, {"TANDEM_LEVEL": "1", **more}, workers=1)
    if profile.startswith("embedded-level"):
        return Server(data_dir, {"TANDEM_LEVEL": profile.removeprefix("embedded-level"), **more})
    return Server(data_dir, more)


def skip_without_projections(server: Deployment, why: str) -> None:
    """Skip a test that is about projections on a deployment that runs none (level 1:
    queries read the write tables)."""
    if server.level == 1:
        pytest.skip(f"separation level 1 runs no projection: {why}")


@pytest.fixture(scope="module", params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    if request.param == "services-cluster":
        # The session's Redis and NATS clusters, started when a module first runs on them.
        CLUSTERS["redis_url"] = request.getfixturevalue("redis_cluster").url
        CLUSTERS["nats_url"] = request.getfixturevalue("nats_cluster").url
    return str(request.param)


@pytest.fixture(scope="module")
def server(profile: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A real deployment, shared by the tests of one module: every test of the suite
    runs against the embedded profile and against the services profile."""
    root: Path = tmp_path_factory.mktemp("e2e")
    srv = deploy(profile, root / "data")
    try:
        srv.start()
    except BaseException:
        srv.stop()  # what did start: processes, databases
        raise
    yield srv
    srv.stop()


# Separation levels 1 and 2 are the baselines the benchmarks compare level 3 with. `make
# test` runs these modules at them: the core flows, the edge, and (embedded, where
# level 2 folds in the write transaction) the races; `make test-levels`
# (TANDEM_E2E_LEVELS=all) runs the whole suite at every level, fuzzing and authorization
# included.
_EMBEDDED_LEVEL = frozenset({"test_http_flow", "test_bad_input", "test_races"})
LEVEL_MODULES = {
    "embedded-level1": _EMBEDDED_LEVEL,
    "embedded-level2": _EMBEDDED_LEVEL,
    "services-level1": frozenset({"test_http_flow", "test_bad_input"}),
}
# The HTTP surface (authorization, logs, stateful fuzzing) does not depend on the
# transport: `make test` checks it on the embedded and the services profile, not again
# over JetStream.
SURFACE_TESTS = frozenset(
    {
        "test_authorization",
        "test_secrets_in_logs",
        "test_tokens",
        "test_stateful_fuzzing_along_the_links",
        "test_generated_client",
    }
)


# What `make test` runs on the clusters: the core flows (every read model written and
# read, across processes); `make test-levels` runs the whole suite there too.
CLUSTER_MODULES = frozenset({"test_http_flow"})
# What `make test` runs over JetStream: the modules whose reads follow writes across
# processes (the transport's part); the edge (bad input, guests, metrics, dead letters
# over HTTP, fuzzing) is the same code whatever carries the events, and is checked on
# the embedded and the services profile. `make test-levels` runs everything there too.
NATS_MODULES = frozenset({"test_http_flow", "test_races"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TANDEM_E2E_LEVELS") == "all":
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        profile = callspec.params.get("profile") if callspec is not None else None
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module is not None else ""
        name = getattr(item, "originalname", item.name)
        surface = module in SURFACE_TESTS or name in SURFACE_TESTS
        if (
            (profile in LEVEL_MODULES and module not in LEVEL_MODULES[profile])
            or (profile == "services-nats" and (surface or module not in NATS_MODULES))
            or (profile == "services-cluster" and module not in CLUSTER_MODULES)
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
