from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deployment import ServicesDeployment
from tests.support.server import Server

Deployment = Server | ServicesDeployment

PROFILES = [
    "embedded",
    pytest.param("services", marks=[pytest.mark.services, pytest.mark.slow]),
    pytest.param("services-nats", marks=[pytest.mark.services, pytest.mark.slow]),
]


def deploy(profile: str, data_dir: Path) -> Deployment:
    """One `tandem serve` (embedded), or 2 API processes + 2 workers (services), fed
    by the PostgreSQL transport or by JetStream (with 2 relays racing and product
    detail split into 3 partitions)."""
    if profile == "services":
        return ServicesDeployment(data_dir)
    if profile == "services-nats":
        return ServicesDeployment(data_dir, relays=2, partitions={"product_detail": 3})
    return Server(data_dir)


@pytest.fixture(scope="module", params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(profile: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A real deployment, shared by the tests of one module: every test of the suite
    runs against the embedded profile and against the services profile."""
    root: Path = tmp_path_factory.mktemp("e2e")
    srv = deploy(profile, root / "data")
    srv.start()
    yield srv
    srv.stop()
