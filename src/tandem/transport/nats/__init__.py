"""The NATS JetStream transport: the stream (`stream`), conditional publishes
(`publish`), the relay from the event log (`relay`) and the reader projections consume
through (`reader`).

The names a process wires up are re-exported here; importing this package imports the
NATS client, which the embedded profile never does (see `tandem.transport`).
"""

from tandem.transport.nats.reader import NatsEventReader
from tandem.transport.nats.relay import NatsRelay, PublishRefused
from tandem.transport.nats.stream import StreamCorrupted, ensure_stream

__all__ = ["NatsEventReader", "NatsRelay", "PublishRefused", "StreamCorrupted", "ensure_stream"]
