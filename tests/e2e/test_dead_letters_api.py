"""`/admin/dead-letters`: list, retry and skip parked events on a running deployment.

Letters are planted straight into the deployment's dead-letter store (the SQLite file of
the embedded profile, the write database of the services profile), as a runner parks
them. Their events are real ones of the log with a different name, so applying one
shows in the read model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.settings import Settings
from tandem.db.postgres import create_pool
from tandem.deadletters.postgres import PostgresDeadLetters
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.eventlog.postgres import PostgresEventLog
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.messages import StoredEvent
from tests.e2e.conftest import Deployment, deploy, skip_without_projections
from tests.support.deployment import ServicesDeployment
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROJECTION = "category_stats"


@dataclasses.dataclass(frozen=True)
class Setup:
    server: Deployment
    customer: dict[str, str]


@pytest.fixture(scope="module")
def setup(profile: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data: Path = tmp_path_factory.mktemp("letters") / "data"
    data.mkdir()
    server = deploy(profile, data)
    skip_without_projections(server, "dead letters are a projection's parked events")
    if server.level == 2:
        pytest.skip(f"{PROJECTION} is sync at separation level 2: only asynchronous ones park")
    customer = server.cli("token", "create", "--subject", "carol", "--scopes", "orders")
    try:
        server.start()
    except BaseException:
        server.stop()  # what did start: workers, databases
        raise
    yield Setup(server, {"Authorization": f"Bearer {customer}"})
    server.stop()


async def _events_of(server: Deployment, aggregate_id: str) -> list[StoredEvent]:
    if isinstance(server, ServicesDeployment):
        assert server.write_db is not None
        pool = await create_pool(server.write_db.url, min_size=1, max_size=2)
        try:
            events = await PostgresEventLog(pool).read_after(0, 100_000)
        finally:
            await pool.close()
    else:
        reader = SqliteEventLogReader(Settings(data_dir=server.data_dir).write_database)
        try:
            events = await reader.read_after(0, 100_000)
        finally:
            reader.close()
    return [e for e in events if e.aggregate_id == aggregate_id]


async def _park(server: Deployment, events: list[StoredEvent]) -> None:
    """Park `events` for category_stats, as its runner would have."""
    letters: Any
    if isinstance(server, ServicesDeployment):
        assert server.write_db is not None
        pool = await create_pool(server.write_db.url, min_size=1, max_size=2)
        try:
            letters = PostgresDeadLetters(pool)
            for event in events:
                await letters.park(PROJECTION, event, "Boom: parked by the test")
        finally:
            await pool.close()
        return
    letters = SqliteDeadLetters(server.data_dir / "dead-letters.db")
    try:
        for event in events:
            await letters.park(PROJECTION, event, "Boom: parked by the test")
    finally:
        letters.close()


def _named(event: StoredEvent, name: str) -> StoredEvent:
    return dataclasses.replace(event, data={**event.data, "name": name, "slug": name.lower()})


def _category_name(client: httpx.Client, category_id: str) -> str:
    def find(nodes: list[dict[str, Any]]) -> str | None:
        for node in nodes:
            if node["id"] == category_id:
                return str(node["name"])
            found = find(node.get("children", []))
            if found is not None:
                return found
        return None

    response = client.get("/categories", params={"consistency": "eventual"})
    assert response.status_code == 200, response.text
    body = response.json()
    name = find(body["categories"])
    assert name is not None, body
    return name


def _letters(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = client.get("/admin/dead-letters", params=params)
    assert response.status_code == 200, response.text
    letters: list[dict[str, Any]] = response.json()["dead_letters"]
    return letters


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_dead_letters_need_an_admin_token(setup: Setup) -> None:
    calls = [
        ("GET", "/admin/dead-letters"),
        ("POST", f"/admin/dead-letters/{PROJECTION}/some-aggregate/retry"),
        ("POST", f"/admin/dead-letters/{PROJECTION}/1/skip"),
    ]
    with httpx.Client(base_url=setup.server.url, timeout=10) as client:
        for method, path in calls:
            _assert_problem(client.request(method, path), 401)
            bad = {"Authorization": "Bearer not-a-token"}
            _assert_problem(client.request(method, path, headers=bad), 401)
            _assert_problem(client.request(method, path, headers=setup.customer), 403)


def test_bad_input_is_a_4xx_problem(setup: Setup) -> None:
    with httpx.Client(base_url=setup.server.url, headers=ADMIN, timeout=10) as client:
        for position in ("abc", "0", "-1", "1.5", str(2**60), "9" * 40):
            _assert_problem(client.post(f"/admin/dead-letters/{PROJECTION}/{position}/skip"), 422)
        for name in ("a%20b", "x%00y", "x" * 201, "%C3%A9t%C3%A9"):
            _assert_problem(client.post(f"/admin/dead-letters/{name}/1/skip"), 422)
            _assert_problem(client.post(f"/admin/dead-letters/{name}/agg/retry"), 422)
        _assert_problem(client.get("/admin/dead-letters", params={"projection": "x\x00"}), 422)
        _assert_problem(client.post(f"/admin/dead-letters/{PROJECTION}/{'a' * 201}/retry"), 422)
        # Well formed, but nothing is parked there.
        missing = _assert_problem(client.post(f"/admin/dead-letters/{PROJECTION}/7/skip"), 404)
        assert "no parked event at 7" in missing["detail"]
        unknown = _assert_problem(client.post("/admin/dead-letters/no_such/agg/retry"), 404)
        assert "no_such" in unknown["detail"]
        nothing = _assert_problem(client.post(f"/admin/dead-letters/{PROJECTION}/agg/retry"), 404)
        assert "no parked events of agg" in nothing["detail"]
        assert _letters(client) == []


def test_skip_drops_a_letter_and_retry_applies_the_rest(setup: Setup) -> None:
    server = setup.server
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as client:
        category = client.post("/categories", json={"name": "Lettered"}).json()["id"]
        renamed = client.patch(f"/categories/{category}", json={"name": "Lettered twice"})
        assert renamed.status_code == 200, renamed.text
        broke = client.post("/categories", json={"name": "Broken"}).json()
        other = broke["id"]
        # Once category_stats has applied them, the events are readable from the log too.
        stats = client.get(f"/categories/{other}/stats", params={"min_version": broke["version"]})
        assert stats.status_code == 200, stats.text
        created, renaming = asyncio.run(_events_of(server, category))
        (broken,) = asyncio.run(_events_of(server, other))
        # Both letters belong to one aggregate; a third, of another, cannot be applied.
        skipped = _named(created, "Never applied")
        retried = _named(renaming, "Applied on retry")
        unappliable = dataclasses.replace(broken, type="CategoryRenamed", data={})
        asyncio.run(_park(server, [skipped, retried, unappliable]))

        letters = _letters(client)
        assert [(x["position"], x["aggregate_id"]) for x in letters] == [
            (skipped.position, category),
            (retried.position, category),
            (unappliable.position, other),
        ]
        first = letters[0]
        assert first["projection"] == PROJECTION and first["event_type"] == "CategoryCreated"
        assert first["error"] == "Boom: parked by the test"
        assert first["aggregate_type"] == created.aggregate_type
        assert first["parked_at"].startswith(time.strftime("%Y-", time.gmtime()))
        assert len(_letters(client, projection=PROJECTION)) == 3
        assert _letters(client, projection="product_search") == []

        done = client.post(f"/admin/dead-letters/{PROJECTION}/{skipped.position}/skip")
        assert done.status_code == 200, done.text
        assert done.json() == {
            "projection": PROJECTION,
            "position": skipped.position,
            "skipped": True,
        }
        assert [x["position"] for x in _letters(client)] == [retried.position, unappliable.position]
        again = client.post(f"/admin/dead-letters/{PROJECTION}/{skipped.position}/skip")
        _assert_problem(again, 404)
        assert _category_name(client, category) == "Lettered twice"

        applied = client.post(f"/admin/dead-letters/{PROJECTION}/{category}/retry")
        assert applied.status_code == 200, applied.text
        assert applied.json() == {"projection": PROJECTION, "aggregate_id": category, "applied": 1}
        assert _category_name(client, category) == "Applied on retry"
        assert [x["position"] for x in _letters(client)] == [unappliable.position]

        failing = _assert_problem(
            client.post(f"/admin/dead-letters/{PROJECTION}/{other}/retry"), 409
        )
        assert failing["type"] == "still-failing" and "KeyError" in failing["detail"]
        assert [x["position"] for x in _letters(client)] == [unappliable.position]
        assert _category_name(client, other) == "Broken"
        gone = client.post(f"/admin/dead-letters/{PROJECTION}/{unappliable.position}/skip")
        assert gone.status_code == 200, gone.text
        assert _letters(client) == []
