"""The NATS JetStream transport: a relay that publishes the event log in position
order, and a reader projections consume through, falling back to the log over any
gap (the `nats` extra: nats-py)."""

from tandem.extras import require

require("nats", extra="nats", needed_by="tandem.nats")

from tandem.transport.nats import (  # noqa: E402
    NatsEventReader,
    NatsRelay,
    PublishRefused,
    StreamCorrupted,
    ensure_stream,
)
from tandem.transport.nats.client import connect  # noqa: E402

__all__ = [
    "NatsEventReader",
    "NatsRelay",
    "PublishRefused",
    "StreamCorrupted",
    "connect",
    "ensure_stream",
]
