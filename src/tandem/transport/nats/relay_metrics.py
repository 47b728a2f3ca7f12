"""The relay's counters in Prometheus format, served on `/metrics` by the relay's process.

A relay has no HTTP API of its own; `serve_metrics` starts prometheus_client's small
HTTP server beside it, reading the relay's counters at every scrape.

Usage::

    server = serve_metrics(relay, "127.0.0.1", 9464)
    ...
    server.shutdown()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from tandem.transport.nats.relay import NatsRelay


class RelayCollector(Collector):
    """The counters of one relay, read when scraped."""

    def __init__(self, relay: NatsRelay) -> None:
        self._relay = relay

    def collect(self) -> Iterator[Any]:
        relay = self._relay
        stream = relay.stream
        counters = (
            (
                "tandem_relay_published",
                "Events the stream stored from this relay.",
                relay.published,
            ),
            ("tandem_relay_duplicates", "Publishes the stream already had.", relay.duplicates),
            ("tandem_relay_conflicts", "Publishes refused: the stream moved on.", relay.conflicts),
            (
                "tandem_relay_unpublishable",
                "Events too large for the server, published as markers (read from the log).",
                relay.unpublishable,
            ),
        )
        for name, documentation, value in counters:
            family = CounterMetricFamily(name, documentation, labels=["stream"])
            family.add_metric([stream], value)
            yield family
        position = GaugeMetricFamily(
            "tandem_relay_position", "The last log position known in the stream.", labels=["stream"]
        )
        position.add_metric([stream], relay.position.value)
        yield position


def serve_metrics(relay: NatsRelay, host: str, port: int) -> WSGIServer:
    """Serve the relay's counters on http://HOST:PORT/metrics (in a daemon thread)."""
    registry = CollectorRegistry()
    registry.register(RelayCollector(relay))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
