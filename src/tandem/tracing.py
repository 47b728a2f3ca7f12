"""Optional OpenTelemetry spans: one per command, one per query, one per projection batch.

Off by default: every hook returns one shared no-op context manager, and nothing here
imports `opentelemetry` (the `otel` extra). An entry point switches spans on once::

    tracing.setup("otlp", service_name="tandem")   # or "console"; None leaves them off

and the buses and the projection runner wrap their work::

    with tracing.command("ChangePrice", metadata) as span:
        result = await handle(command)
        span.record(result.version)

A command span carries its correlation and causation ids, its outcome (`ok` or the
error's name) and the version it committed. A projection batch span carries the
projection, the first and last position, the event count and the correlation ids of
the events the projection handles, plus a link to each of those events' command spans
recorded in this process (the embedded profile runs both in one process; a worker on
the services profile joins by the correlation ids alone).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from tandem.messages import Metadata, StoredEvent

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Link, Span, SpanContext

EXPORTERS = ("otlp", "console")
# Command spans a projection batch can link to, by causation id (newest kept).
RECENT_COMMANDS = 10_000
# At most this many links per batch span (the SDK's default limit).
MAX_LINKS = 128

CORRELATION_ID = "tandem.correlation_id"
CAUSATION_ID = "tandem.causation_id"
CORRELATION_IDS = "tandem.correlation_ids"
OUTCOME = "tandem.outcome"
VERSION = "tandem.version"
READ_VERSION = "tandem.read_version"
PROJECTION = "tandem.projection"
FIRST_POSITION = "tandem.first_position"
LAST_POSITION = "tandem.last_position"
EVENTS = "tandem.events"


class Traced(Protocol):
    """What a hook hands back: a context manager around the work, plus its result."""

    def __enter__(self) -> Traced: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def record(self, version: int) -> None:
        """The version a command committed, or the one a query's answer reflects."""


class _Off:
    __slots__ = ()

    def __enter__(self) -> _Off:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def record(self, version: int) -> None:
        return None


_OFF = _Off()
_recorder: _Recorder | None = None


def command(name: str, metadata: Metadata) -> Traced:
    """A span around one command (named after its type)."""
    recorder = _recorder
    if recorder is None:
        return _OFF
    return recorder.command(name, metadata)


def query(name: str) -> Traced:
    """A span around one query (named after its type)."""
    recorder = _recorder
    if recorder is None:
        return _OFF
    return recorder.query(name)


def batch(projection: str, events: Sequence[StoredEvent], handled: Collection[str]) -> Traced:
    """A span around one store transaction of a projection over `events` (not empty);
    `handled` are the event types the projection applies."""
    recorder = _recorder
    if recorder is None:
        return _OFF
    return recorder.batch(projection, events, handled)


def use(provider: TracerProvider | None) -> None:
    """Record spans with `provider` from now on; `None` switches them off again."""
    global _recorder
    _recorder = None if provider is None else _Recorder(provider)


def setup(exporter: str | None, service_name: str = "tandem") -> None:
    """Export spans for this process: `otlp` (to `OTEL_EXPORTER_OTLP_ENDPOINT`, by
    default http://localhost:4318) or `console` (stdout); `None` leaves tracing off.

    The provider also becomes OpenTelemetry's global one, so HTTP server spans of the
    web framework, if it makes any, become the parents of command and query spans.
    """
    if exporter is None:
        return
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown span exporter {exporter!r}: otlp or console")
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError as exc:
        raise ImportError("tracing needs the otel extra: pip install 'tandem[otel]'") from exc
    span_exporter: SpanExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    else:
        span_exporter = ConsoleSpanExporter()
    # The provider flushes and shuts its processor down when the process exits.
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    use(provider)


class _Recorder:
    """Makes the spans once tracing is on; the only place `opentelemetry` is used."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry import context, trace

        self.tracer = provider.get_tracer("tandem")
        self.context = context
        self.trace = trace
        self.root: Context = context.Context()
        self.recent: OrderedDict[str, SpanContext] = OrderedDict()

    def command(self, name: str, metadata: Metadata) -> _Span:
        span = self.tracer.start_span(
            name,
            attributes={
                CORRELATION_ID: metadata.correlation_id,
                CAUSATION_ID: metadata.causation_id,
            },
        )
        # Remembered before the command commits: a runner may apply its events before
        # the command's span ends.
        self.recent[metadata.causation_id] = span.get_span_context()
        if len(self.recent) > RECENT_COMMANDS:
            self.recent.popitem(last=False)
        return _Span(self, span, VERSION)

    def query(self, name: str) -> _Span:
        return _Span(self, self.tracer.start_span(name), READ_VERSION)

    def batch(
        self, projection: str, events: Sequence[StoredEvent], handled: Collection[str]
    ) -> _Span:
        applied = [e for e in events if e.type in handled]
        links: list[Link] = []
        for causation in dict.fromkeys(e.causation_id for e in applied):
            found = self.recent.get(causation)
            if found is not None and len(links) < MAX_LINKS:
                links.append(self.trace.Link(found))
        span = self.tracer.start_span(
            f"apply {projection}",
            # A root of its own: a runner's task may have been started inside a request.
            context=self.root,
            kind=self.trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                PROJECTION: projection,
                FIRST_POSITION: events[0].position,
                LAST_POSITION: events[-1].position,
                EVENTS: len(events),
                CORRELATION_IDS: list(dict.fromkeys(e.correlation_id for e in applied)),
            },
        )
        return _Span(self, span, VERSION)


class _Span:
    """One live span, current while its block runs; ends with the block."""

    __slots__ = ("_key", "_recorder", "_span", "_token")
    _token: Token[Context]

    def __init__(self, recorder: _Recorder, span: Span, key: str) -> None:
        self._recorder = recorder
        self._span = span
        self._key = key

    def __enter__(self) -> _Span:
        trace = self._recorder.trace
        self._token = self._recorder.context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        try:
            span.set_attribute(OUTCOME, "ok" if exc is None else type(exc).__name__)
            # Cancellation and exits are not failures of the work itself.
            if isinstance(exc, Exception):
                span.record_exception(exc)
                status = self._recorder.trace.StatusCode.ERROR
                span.set_status(self._recorder.trace.Status(status, type(exc).__name__))
        finally:
            self._recorder.context.detach(self._token)
            span.end()

    def record(self, version: int) -> None:
        self._span.set_attribute(self._key, version)
