"""`/metrics` in Prometheus text format, parsed with prometheus_client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Deployment
from tests.support.server import ADMIN_TOKEN

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
    projections = {ls["projection"] for _, ls, _ in metrics["tandem_projection_checkpoint"]}
    assert {"product_detail", "product_search", "category_stats", "sales_analytics"} <= projections
    for family in ("tandem_projection_lag_events", "tandem_projection_lag_seconds"):
        assert {ls["projection"] for _, ls, _ in metrics[family]} == projections
    assert {ls["projection"] for _, ls, _ in metrics["tandem_projection_state"]} == projections
    assert _value(metrics["tandem_event_log_head"], "tandem_event_log_head") >= version
    assert "tandem_events_appended" in metrics
    assert "tandem_projection_events_applied" in metrics
    assert "tandem_query_seconds" in metrics
