"""A seeded deployment of either profile with one API process: what the write and
memory benchmarks start from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.embedded import TOKEN as EMBEDDED_TOKEN
from bench.embedded import EmbeddedDeployment
from bench.harness import Process
from bench.services import TOKEN as SERVICES_TOKEN
from bench.services import ServicesDeployment


@contextmanager
def seeded_api(
    profile: str, tmp: Path, products: int, server: str
) -> Iterator[tuple[Any, Process, str]]:
    """A deployment of `profile` under `tmp` seeded with `products`, and one API process
    at level 3 under `server` once the projections caught up: (the deployment, the API,
    its admin token). Stopped and removed on leaving."""
    deployment: Any
    if profile == "services":
        deployment, token = ServicesDeployment(tmp), SERVICES_TOKEN
    else:
        deployment, token = EmbeddedDeployment(tmp), EMBEDDED_TOKEN
    try:
        deployment.seed(products)
        api = deployment.start_api(3, server)
        if not deployment.caught_up():
            raise SystemExit("the projections never caught up")
        yield deployment, api, token
    finally:
        deployment.stop_api()
        deployment.close()
