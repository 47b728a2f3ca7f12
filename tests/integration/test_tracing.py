"""OpenTelemetry spans: a command's span and the projection batches that applied its
events share its correlation id and are linked; with tracing off nothing is recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.support.server import ADMIN_TOKEN, Server

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain.errors import NotFound
from catalog.read_models.queries import ListCategories
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings, SettingsError
from tandem import tracing

# Async projections that handle CategoryCreated, each in its own runner.
CATEGORY_PROJECTIONS = {"product_search", "category_stats"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def batches_of(finished: tuple[ReadableSpan, ...], correlation_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in finished
        if s.name.startswith("apply ")
        and correlation_id in attrs(s).get(tracing.CORRELATION_IDS, ())
    ]


async def test_command_span_and_projection_batches_share_the_correlation_id(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    cat = build_embedded(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        before = await cat.command_bus.dispatch(
            c.CreateCategory(name="Before"), subject="admin", correlation_id="trace-41"
        )
        assert await cat.wait_until_caught_up(timeout=10)
        result = await cat.command_bus.dispatch(
            c.CreateCategory(name="Traced"), subject="admin", correlation_id="trace-42"
        )
        assert await cat.wait_until_caught_up(timeout=10)
        answer = await cat.query_bus.ask(ListCategories(), min_version=result.version)
    finally:
        await cat.stop()
        cat.close()
    finished = spans.get_finished_spans()

    commands = [s for s in finished if s.name == "CreateCategory"]
    traced = [s for s in commands if attrs(s)[tracing.CORRELATION_ID] == "trace-42"]
    assert len(commands) == 2 and len(traced) == 1
    command = traced[0]
    [earlier] = [s for s in commands if s is not command]
    assert attrs(earlier)[tracing.VERSION] == before.version
    assert attrs(command)[tracing.OUTCOME] == "ok"
    assert attrs(command)[tracing.VERSION] == result.version
    assert attrs(command)[tracing.CAUSATION_ID] != "trace-42"  # its own id, new per command
    assert command.context is not None

    batches = batches_of(finished, "trace-42")
    assert {attrs(s)[tracing.PROJECTION] for s in batches} >= CATEGORY_PROJECTIONS
    for batch in batches:
        a = attrs(batch)
        assert a[tracing.OUTCOME] == "ok"
        assert a[tracing.FIRST_POSITION] <= result.version <= a[tracing.LAST_POSITION]
        assert a[tracing.EVENTS] >= 1
        assert batch.kind is SpanKind.CONSUMER
        assert batch.parent is None
        linked = [link.context for link in batch.links]
        assert command.context in linked
        # The earlier command was applied in earlier batches: neither listed nor linked.
        assert "trace-41" not in a[tracing.CORRELATION_IDS]
        assert earlier.context not in linked
    # A projection that reads the event but does not handle it lists no id for it.
    [order_view] = [
        s
        for s in finished
        if s.name == "apply order_view"
        and attrs(s)[tracing.FIRST_POSITION] <= result.version <= attrs(s)[tracing.LAST_POSITION]
    ]
    assert attrs(order_view)[tracing.CORRELATION_IDS] == ()
    assert not order_view.links

    queries = [s for s in finished if s.name == "ListCategories"]
    assert len(queries) == 1
    assert attrs(queries[0])[tracing.OUTCOME] == "ok"
    assert attrs(queries[0])[tracing.READ_VERSION] == answer.read_version >= result.version


async def test_a_failed_command_span_names_the_error(
    catalog: EmbeddedRuntime, spans: InMemorySpanExporter
) -> None:
    with pytest.raises(NotFound):
        await catalog.command_bus.dispatch(
            c.RenameCategory(category_id="missing", name="x"),
            subject="admin",
            correlation_id="trace-err",
        )
    [span] = [s for s in spans.get_finished_spans() if s.name == "RenameCategory"]
    assert attrs(span)[tracing.OUTCOME] == "NotFound"
    assert tracing.VERSION not in attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in span.events)


async def test_nothing_is_recorded_when_tracing_is_off(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    tracing.use(None)
    cat = build_embedded(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        await cat.command_bus.dispatch(c.CreateCategory(name="Dark"), subject="admin")
        assert await cat.wait_until_caught_up(timeout=10)
    finally:
        await cat.stop()
        cat.close()
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


OFF_SCRIPT = """
import asyncio, sys
from catalog.bootstrap import build_embedded
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.domain import commands as c
from catalog.settings import Settings

async def main() -> None:
    cat = build_embedded(Settings.from_env())
    await cat.start()
    try:
        await cat.command_bus.dispatch(c.CreateCategory(name="Dark"), subject="admin")
        assert await cat.wait_until_caught_up(timeout=10)
    finally:
        await cat.stop()
        cat.close()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_opentelemetry_is_not_imported_when_tracing_is_off(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", OFF_SCRIPT],
        env={**clean, "TANDEM_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_exporter_setting_is_checked() -> None:
    assert Settings.from_env({}).otel_exporter is None
    assert Settings.from_env({"TANDEM_OTEL_EXPORTER": "none"}).otel_exporter is None
    on = Settings.from_env({"TANDEM_OTEL_EXPORTER": "OTLP", "TANDEM_OTEL_SERVICE_NAME": "x"})
    assert (on.otel_exporter, on.otel_service_name) == ("otlp", "x")
    with pytest.raises(SettingsError, match="TANDEM_OTEL_EXPORTER"):
        Settings.from_env({"TANDEM_OTEL_EXPORTER": "jaeger"})


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps every span it is sent."""

    received: list[tuple[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.received.extend((service, span) for span in scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def _attribute(span: Any, key: str) -> Any:
    for a in span.attributes:
        if a.key == key:
            value = a.value
            if value.HasField("array_value"):
                return [v.string_value for v in value.array_value.values]
            return getattr(value, value.WhichOneof("value"))
    return None


def test_tandem_serve_exports_http_command_and_batch_spans_over_otlp(tmp_path: Path) -> None:
    received: list[tuple[str, Any]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    collector = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    server = Server(
        tmp_path / "data",
        env={
            "TANDEM_OTEL_EXPORTER": "otlp",
            "TANDEM_OTEL_SERVICE_NAME": "catalog-under-test",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    )
    server.start()
    try:
        created = httpx.post(
            f"{server.url}/categories",
            json={"name": "Exported"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Correlation-ID": "otlp-7"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            names = {span.name for _, span in received}
            applied = {
                _attribute(span, tracing.PROJECTION)
                for _, span in received
                if "otlp-7" in (_attribute(span, tracing.CORRELATION_IDS) or ())
            }
            if "CreateCategory" in names and applied >= CATEGORY_PROJECTIONS:
                break
            time.sleep(0.1)
    finally:
        server.stop()
        collector.shutdown()
        collector.server_close()
    assert {service for service, _ in received} == {"catalog-under-test"}
    [command] = [s for _, s in received if s.name == "CreateCategory"]
    assert _attribute(command, tracing.CORRELATION_ID) == "otlp-7"
    assert _attribute(command, tracing.VERSION) == created.json()["version"]
    # The command runs inside the framework's HTTP server span (via its endpoint span).
    by_id = {s.span_id: s for _, s in received}
    ancestors = []
    parent = by_id.get(command.parent_span_id)
    while parent is not None:
        ancestors.append(parent)
        parent = by_id.get(parent.parent_span_id)
    assert ancestors and all(p.trace_id == command.trace_id for p in ancestors)
    http = ancestors[-1]
    assert http.kind == http.SPAN_KIND_SERVER and http.name == "POST /categories"
    batches = [s for _, s in received if "otlp-7" in (_attribute(s, tracing.CORRELATION_IDS) or ())]
    assert {_attribute(s, tracing.PROJECTION) for s in batches} >= CATEGORY_PROJECTIONS
    for batch in batches:
        assert (command.trace_id, command.span_id) in {
            (link.trace_id, link.span_id) for link in batch.links
        }
