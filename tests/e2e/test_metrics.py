"""`/metrics` in Prometheus text format, parsed with prometheus_client's own parser."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Deployment, skip_without_projections
from tests.support.server import ADMIN_TOKEN, Server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _scrape(client: httpx.Client) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return families


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())
    )


def test_metrics_report_latency_by_name_and_outcome_and_every_projection(
    server: Deployment,
) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        created = client.post("/categories", json={"name": "Metered"})
        assert created.status_code == 201
        version = created.json()["version"]
        unknown = "00000000-0000-4000-8000-000000000000"
        assert client.patch(f"/categories/{unknown}", json={"name": "x"}).status_code == 404
        assert client.get("/categories", params={"min_version": version}).status_code == 200
        # With several API processes behind one URL, scrape until one saw both commands.
        for _ in range(20):
            metrics = _scrape(client)
            commands = metrics.get("tandem_command_seconds", [])
            if _value(commands, "tandem_command_seconds_count", command="CreateCategory") and (
                _value(commands, "tandem_command_seconds_count", command="RenameCategory")
            ):
                break
            client.post("/categories", json={"name": "Metered again"})
            client.patch(f"/categories/{unknown}", json={"name": "x"})
    commands = metrics["tandem_command_seconds"]
    assert _value(commands, "tandem_command_seconds_count", command="CreateCategory", outcome="ok")
    assert _value(
        commands, "tandem_command_seconds_count", command="RenameCategory", outcome="NotFound"
    )
    assert _value(commands, "tandem_command_seconds_bucket", command="CreateCategory", le="+Inf")
    skip_without_projections(server, "projection metrics (command metrics checked above)")
    projections = {ls["projection"] for _, ls, _ in metrics["tandem_projection_checkpoint"]}
    assert {"product_detail", "product_search", "category_stats", "sales_analytics"} <= projections
    for family in ("tandem_projection_lag_events", "tandem_projection_lag_seconds"):
        assert {ls["projection"] for _, ls, _ in metrics[family]} == projections
    assert {ls["projection"] for _, ls, _ in metrics["tandem_projection_state"]} == projections
    assert _value(metrics["tandem_event_log_head"], "tandem_event_log_head") >= version
    assert "tandem_events_appended" in metrics
    assert "tandem_projection_events_applied" in metrics
    assert "tandem_query_seconds" in metrics


def test_metrics_count_the_in_process_caches_hits_and_misses(server: Deployment) -> None:
    skip_without_projections(server, "the caches follow read models")
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        created = client.post("/categories", json={"name": "Counted"})
        assert created.status_code == 201
        stats = f"/categories/{created.json()['id']}/stats"
        version = created.json()["version"]
        # With several API processes behind one URL, read until one has hit its cache.
        for _ in range(20):
            for _ in range(5):
                assert client.get(stats, params={"min_version": version}).status_code == 200
            caches = _scrape(client)
            if _value(
                caches["tandem_cache_hits"], "tandem_cache_hits_total", cache="GetCategoryStats"
            ):
                break
    named = {
        family: {ls["cache"] for _, ls, _ in caches[family]}
        for family in ("tandem_cache_hits", "tandem_cache_misses", "tandem_cache_drops")
    }
    assert len({frozenset(names) for names in named.values()}) == 1
    assert "product_detail" in named["tandem_cache_hits"]
    if "GetCategoryStats" not in named["tandem_cache_hits"]:
        pytest.skip("stats folded in the write transaction (level 2) are not cached")
    assert "SearchProducts" in named["tandem_cache_hits"]
    hits = _value(caches["tandem_cache_hits"], "tandem_cache_hits_total", cache="GetCategoryStats")
    misses = _value(
        caches["tandem_cache_misses"], "tandem_cache_misses_total", cache="GetCategoryStats"
    )
    assert hits >= 1 and misses >= 1  # the first read filled it
    assert _value(caches["tandem_cache_entries"], "tandem_cache_entries", cache="GetCategoryStats")


REBUILD_FAMILIES = (
    "tandem_rebuild_checkpoint",
    "tandem_rebuild_head",
    "tandem_rebuild_percent",
    "tandem_rebuild_events_applied",
    "tandem_rebuild_events_per_second",
    "tandem_rebuild_running",
    "tandem_rebuild_state",
)


def test_rebuild_gauges_are_published_before_any_rebuild(server: Deployment) -> None:
    with httpx.Client(base_url=server.url) as client:
        metrics = _scrape(client)
    for family in REBUILD_FAMILIES:
        assert family in metrics, family


def test_metrics_report_a_rebuild_up_to_its_switch(server: Deployment) -> None:
    name = "category_stats"
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        created = client.post("/categories", json={"name": "Rebuilt and metered"})
        assert created.status_code == 201, created.text
        version = created.json()["version"]
        started = client.post(f"/admin/projections/{name}/rebuild")
        if started.status_code == 409 and started.json()["type"] == "rebuild-unsupported":
            pytest.skip(started.json()["detail"])
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        progress = started.json()
        while progress["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            progress = client.get(f"/admin/projections/{name}/rebuild").json()
        assert progress["state"] == "switched", progress
        # With several API processes behind one URL, each reading the workers' reports
        # once a second, scrape until the process answering reports the switch with the
        # events applied that the rebuild's progress (from any of them) shows.
        for _ in range(80):
            metrics = _scrape(client)
            switched = _value(
                metrics["tandem_rebuild_state"],
                "tandem_rebuild_state",
                projection=name,
                state="switched",
            )
            reported = _value(
                metrics["tandem_rebuild_events_applied"],
                "tandem_rebuild_events_applied",
                projection=name,
            )
            if switched and reported == progress["events_applied"]:
                break
            time.sleep(0.05)
            progress = client.get(f"/admin/projections/{name}/rebuild").json()
    one = {"projection": name}
    assert (
        _value(metrics["tandem_rebuild_state"], "tandem_rebuild_state", state="switched", **one)
        == 1
    )
    assert _value(metrics["tandem_rebuild_running"], "tandem_rebuild_running", **one) == 0
    assert _value(metrics["tandem_rebuild_percent"], "tandem_rebuild_percent", **one) == 100
    checkpoint = _value(metrics["tandem_rebuild_checkpoint"], "tandem_rebuild_checkpoint", **one)
    assert checkpoint >= version
    assert _value(metrics["tandem_rebuild_head"], "tandem_rebuild_head", **one) >= version
    applied = _value(
        metrics["tandem_rebuild_events_applied"], "tandem_rebuild_events_applied", **one
    )
    assert applied == progress["events_applied"]
    rate = metrics["tandem_rebuild_events_per_second"]
    assert _value(rate, "tandem_rebuild_events_per_second", **one) >= 0
    if isinstance(server, Server):  # the rebuild ran in the process that answers
        assert applied >= 1
        assert _value(rate, "tandem_rebuild_events_per_second", **one) > 0


def test_metrics_report_what_the_embedded_databases_hold_in_memory(server: Deployment) -> None:
    skip_without_projections(server, "the analytics read models live in DuckDB files")
    if not isinstance(server, Server):
        pytest.skip("the services profile's analytics live in the read database")
    with httpx.Client(base_url=server.url, headers=ADMIN) as client:
        created = client.post("/categories", json={"name": "Remembered"})
        assert created.status_code == 201
        # A price change the price history (in DuckDB) has folded: a DuckDB file holds
        # nothing in memory before its first write.
        body = {
            "sku": f"MEM-{uuid.uuid4().hex[:12]}",
            "name": "Remembered",
            "category_id": created.json()["id"],
            "price": "3.00",
            "initial_stock": 1,
        }
        product = client.post("/products", json=body)
        assert product.status_code == 201, product.text
        path = f"/products/{product.json()['id']}"
        changed = client.put(f"{path}/price", json={"price": "4.00"})
        assert changed.status_code == 200, changed.text
        history = client.get(
            f"{path}/price-history", params={"min_version": changed.json()["version"]}
        )
        assert history.status_code == 200, history.text
        families = _scrape(client)
    held = {labels["holder"]: value for _, labels, value in families["tandem_memory_bytes"]}
    # The embedded process keeps its analytics copies in DuckDB files.
    assert any(name.startswith("duckdb:") and value > 0 for name, value in held.items()), held
    if "sqlite" in held:
        assert held["sqlite"] >= 0
