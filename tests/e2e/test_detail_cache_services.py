"""Product detail served from each API process's memory, on the services profile.

Two API processes (each with its own cache of product documents) and two workers, with
product detail split in two partitions. Writers change prices through the API while
readers, each a client of its own, ask for products at the newest version they were
answered at. No read may return a document older than its `min_version` asks for, nor
older than a version the same client already saw. After a blue/green rebuild switches
product detail to a new copy, every process serves that copy, not what it cached.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.deployment import ServicesDeployment
from tests.support.load import ADMIN, wait_rebuild
from tests.support.services import REDIS_URL

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(300)]

PRODUCTS = 12
WRITES = 150  # per writer
READERS = 6


class History:
    """What writers were told: (position, aggregate version) of each product's writes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes: dict[str, list[tuple[int, int]]] = {}
        self.problems: list[str] = []
        self.reads = 0

    def committed(self, product_id: str, position: int, version: int) -> None:
        with self.lock:
            self.writes.setdefault(product_id, []).append((position, version))

    def required(self, product_id: str, min_version: int) -> int:
        """The aggregate version a read at `min_version` must show at least."""
        with self.lock:
            return max(
                (v for p, v in self.writes.get(product_id, []) if p <= min_version), default=0
            )


def _check(history: History, response: httpx.Response, product_id: str, floor: int) -> int:
    """The document's aggregate version, after checking the response against `floor`."""
    if response.status_code != 200:
        history.problems.append(f"{product_id}: {response.status_code} {response.text}")
        return 0
    body = response.content
    document = response.json()
    read_version = int(response.headers["x-read-version"])
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    if response.headers["etag"] != etag:
        history.problems.append(f"{product_id}: ETag {response.headers['etag']} != {etag}")
    if read_version < floor:
        history.problems.append(f"{product_id}: read at {read_version} below {floor}")
    needed = history.required(product_id, floor)
    if document["version"] < needed:
        history.problems.append(
            f"{product_id}: version {document['version']} at min_version {floor},"
            f" which needs {needed}"
        )
    return int(document["version"])


def _write(url: str, ids: list[str], history: History, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        for _ in range(WRITES):
            product_id = rng.choice(ids)
            price = f"{rng.randint(100, 9999) / 100:.2f}"
            written = client.put(f"/products/{product_id}/price", json={"price": price})
            if written.status_code != 200:
                history.problems.append(f"write {written.status_code}: {written.text}")
                continue
            position = int(written.json()["version"])
            version = int(written.headers["etag"].strip('"'))
            history.committed(product_id, position, version)
            # Read your write, on whichever process the proxy picks.
            read = client.get(f"/products/{product_id}", params={"min_version": position})
            if _check(history, read, product_id, position) < version:
                history.problems.append(f"{product_id}: own write {version} not read")


def _read(url: str, ids: list[str], history: History, done: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    floor = 0
    seen: dict[str, int] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        while not done.is_set():
            product_id = rng.choice(ids)
            params = {"min_version": str(floor), "consistency": "eventual"}
            response = client.get(f"/products/{product_id}", params=params)
            version = _check(history, response, product_id, floor)
            if version < seen.get(product_id, 0):
                history.problems.append(
                    f"{product_id}: version {version} after {seen[product_id]} was seen"
                )
            seen[product_id] = max(seen.get(product_id, 0), version)
            if response.status_code == 200:
                floor = max(floor, int(response.headers["x-read-version"]))
            with history.lock:
                history.reads += 1


@pytest.fixture
def deployment(tmp_path: Path) -> ServicesDeployment:
    deployed = ServicesDeployment(tmp_path / "data", partitions={"product_detail": 2})
    try:
        deployed.start()  # a start that fails half way still stops what it started
        yield deployed  # type: ignore[misc]
    finally:
        deployed.stop()


def _products(client: httpx.Client) -> list[str]:
    category = client.post("/categories", json={"name": "Cached"}).json()["id"]
    ids = []
    for i in range(PRODUCTS):
        created = client.post(
            "/products",
            json={
                "sku": f"NC-{i}",
                "name": f"Cached {i}",
                "category_id": category,
                "price": f"{10 + i}.00",
                "initial_stock": 5,
            },
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    # Readers start at `min_version` 0 with eventual consistency: a product the read model
    # has not applied yet would rightly be a 404, so they start once every one is there.
    last = created.json()["version"]
    for product_id in ids:
        read = client.get(f"/products/{product_id}", params={"min_version": last})
        assert read.status_code == 200, read.text
    return ids


def test_cached_reads_never_go_back_and_follow_a_rebuild(deployment: ServicesDeployment) -> None:
    url = deployment.url
    history = History()
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as admin:
        ids = _products(admin)
        done = threading.Event()
        readers = [
            threading.Thread(target=_read, args=(url, ids, history, done, i))
            for i in range(READERS)
        ]
        writers = [
            threading.Thread(target=_write, args=(url, ids, history, 100 + i)) for i in range(2)
        ]
        for thread in [*readers, *writers]:
            thread.start()
        for thread in writers:
            thread.join(120)
        done.set()
        for thread in readers:
            thread.join(30)
        assert history.problems == [], history.problems[:5]
        assert history.reads > 200

        # Every process has the product cached (asked many times) before the rebuild.
        probe = ids[0]
        for api in deployment.apis:
            for _ in range(3):
                assert httpx.get(f"{api.url}/products/{probe}").status_code == 200
        assert admin.post("/admin/projections/product_detail/rebuild").status_code == 202
        assert wait_rebuild(admin, "product_detail")["state"] == "switched"

    # Mark the probe's document in the new copy only (no change event): a process still
    # answering from what it cached before the switch would never show the mark.
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(
            client.scan_iter(match=f"{deployment.prefix}:product_detail_g2*:product:{probe}")
        )
        assert len(keys) == 1, keys
        raw = client.get(keys[0])
        assert isinstance(raw, bytes)
        client.set(keys[0], raw.replace(b'"name":"Cached 0"', b'"name":"Rebuilt copy"'))
    finally:
        client.close()
    for api in deployment.apis:
        deadline = time.monotonic() + 15
        while True:
            name = httpx.get(f"{api.url}/products/{probe}").json()["name"]
            if name == "Rebuilt copy":
                break
            assert time.monotonic() < deadline, f"{api.url} still serves the replaced copy"
            time.sleep(0.1)

    # And a write after the switch is read back at its version from every process.
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as admin:
        written = admin.put(f"/products/{probe}/price", json={"price": "77.00"})
        position = written.json()["version"]
    for api in deployment.apis:
        read = httpx.get(f"{api.url}/products/{probe}", params={"min_version": position})
        assert read.status_code == 200, read.text
        assert read.json()["price"] == "77.00"
        assert int(read.headers["x-read-version"]) >= position
