"""The relay: the event log, in position order, into one JetStream stream.

The stream is the relay's checkpoint: on start, and whenever a publish is refused, the
relay reads the stream's last relayed message and continues after its position. Every
publish is conditional on the stream's end, so the stream holds the log's events as
one unbroken chain, in order, each once — however many relays run, crash or retry:

- the first message of a batch carries `Nats-Expected-Last-Sequence` (the stream's
  last sequence, as last seen); the rest carry `Nats-Expected-Last-Msg-Id` = the
  previous position. The sequence is used for the first because the server forgets
  its last message id when it restarts after the duplicate window passed or when
  someone else publishes a message without an id; the id chain is what lets a whole
  batch be pipelined without waiting for each sequence number.
- `Nats-Msg-Id` = the position, so a publish retried after a crash (or raced by a
  second relay) is dropped by the server as a duplicate. The server checks duplicates
  before the expectations, so a racing relay sees success, not a conflict, for a
  message that is already there.
- a message is stored only if the stream ended exactly at its predecessor, so by
  induction the relayed messages form the log's chain; a refused publish makes the
  relay re-read the stream's end instead of guessing.

An event the server will not take (over the connection's maximum payload, or the
stream's maximum message size) would otherwise be retried forever and stall every
consumer behind it. The relay publishes a small marker in its place instead (the same
chain headers, plus `Tandem-Unpublishable` with the event's size), counts it
(`unpublishable`) and logs its position and size: the chain stays unbroken, and a
reader that meets the marker reads that event from the log.

Usage::

    relay = NatsRelay(log_reader, nc, head, stream="CATALOG", subject_prefix="catalog.events")
    task = asyncio.create_task(relay.run())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.aio.client import Client

from tandem.consistency import VersionWatch
from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent
from tandem.transport import wire
from tandem.transport.nats.publish import PipelinedPublisher, PublishResult, Refused, Stored
from tandem.transport.nats.stream import (
    API_TIMEOUT,
    StreamMark,
    ensure_stream,
    last_relayed,
    raise_if_cancelled,
    subject_for,
)

log = logging.getLogger("tandem.transport.nats")

CONFLICTS = frozenset({10070, 10071})
"""JetStream's "wrong last msg ID" and "wrong last sequence": the stream moved on."""
TOO_LARGE = 10054
"""JetStream's "message size exceeds maximum allowed" (the stream's max_msg_size)."""
HEADER_ROOM = 1024
"""Bytes kept free for a message's headers below the server's maximum payload."""


class PublishRefused(RuntimeError):
    """The server refused a publish for a reason other than the stream having moved."""


class NatsRelay:
    """Publishes the event log to a JetStream stream, in order, at least once."""

    def __init__(
        self,
        log_reader: EventLogReader,
        nc: Client,
        head: VersionWatch,
        *,
        stream: str,
        subject_prefix: str,
        batch_size: int = 5000,
        idle_poll: float = 1.0,
        publish_timeout: float = 2.0,
        duplicate_window: float = 120.0,
        max_retry_delay: float = 2.0,
        replicas: int = 1,
        api_timeout: float = API_TIMEOUT,
    ) -> None:
        self.log_reader = log_reader
        self.head = head
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.batch_size = batch_size
        # Local commits wake the relay through `head`; the timeout only catches writers
        # in other processes.
        self.idle_poll = idle_poll
        # Seconds without a publish acknowledgement before the batch is given up and
        # the stream's end re-read: on a cluster, the acks of publishes sent to a stream
        # leader that loses its leadership never come.
        self.publish_timeout = publish_timeout
        self.duplicate_window = duplicate_window
        # Servers that keep the stream when the relay creates it (`ensure_stream`).
        self.replicas = replicas
        self.max_retry_delay = max_retry_delay
        self.position = VersionWatch(0)
        """The last log position known to be in the stream."""
        self.published = 0
        self.duplicates = 0
        self.conflicts = 0
        self.unpublishable = 0
        """Events published as markers because the server would not take them."""
        self.error: str | None = None
        # Positions the server refused as too large, with their size: sent as markers.
        self._too_large: dict[int, int] = {}
        self._nc = nc
        self._publisher = PipelinedPublisher(nc)
        self._jsm = nc.jsm(timeout=api_timeout)
        self._mark: StreamMark | None = None

    async def run(self) -> None:
        """Relay until cancelled; failures are logged and retried, never skipped."""
        failures = 0
        while True:
            raise_if_cancelled()
            try:
                if not await self.relay_available():
                    await self.head.wait_for(self.position.value + 1, timeout=self.idle_poll)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise_if_cancelled()
                self._mark = None
                self.error = f"{type(exc).__name__}: {exc}"
                delay = min(self.max_retry_delay, 0.05 * 2**failures)
                failures += 1
                log.warning("relay %s: %s; retrying in %.2fs", self.stream, self.error, delay)
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Drop the reply inbox; the connection itself belongs to the caller."""
        await self._publisher.close()

    async def relay_available(self) -> int:
        """Publish what the log holds past the stream's end; returns how many were read.

        Returns after one batch (at most `batch_size` events), so the caller can stop
        between batches.
        """
        mark = self._mark or await self._sync()
        events = await self.log_reader.read_after(mark.position, self.batch_size)
        if events:
            self._mark = await self._publish(mark, events)
            self.error = None
        return len(events)

    async def _sync(self) -> StreamMark:
        """Find the stream's end; creates the stream on first use."""
        await ensure_stream(
            self._jsm,
            self.stream,
            self.subject_prefix,
            duplicate_window=self.duplicate_window,
            replicas=self.replicas,
        )
        mark = await last_relayed(self._jsm, self.stream)
        self.position.advance(mark.position)
        self._mark = mark
        # What is in the stream now is not published again.
        self._too_large = {p: s for p, s in self._too_large.items() if p > mark.position}
        return mark

    async def _publish(self, mark: StreamMark, events: Sequence[StoredEvent]) -> StreamMark | None:
        """Pipeline one batch of conditional publishes; the new end, or None on conflict."""
        futures: list[asyncio.Future[PublishResult]] = []
        try:
            await self._send(mark, events, futures)
            results = await self._answers(futures)
        finally:
            for future in futures:
                future.cancel()  # a no-op for completed ones; frees the pending slots
        # Every message the stream took counts, also after one it refused or an error:
        # the stream keeps it, and no relay publishes it again.
        for result in results:
            if isinstance(result, Stored):
                if result.duplicate:
                    self.duplicates += 1
                else:
                    self.published += 1
        end = mark
        for event, result in zip(events, results, strict=True):
            if isinstance(result, Refused):
                if result.code == TOO_LARGE and event.position not in self._too_large:
                    self._unpublishable(event.position, len(wire.encode(event)), result.description)
                    return None  # the stream's end is re-read; the marker goes next
                if result.code not in CONFLICTS:
                    raise PublishRefused(f"position {event.position}: {result.description}")
                # Someone else moved the stream's end: another relay, or garbage.
                self.conflicts += 1
                log.info(
                    "relay %s: publish of %s refused (%s); re-reading the stream's end",
                    self.stream,
                    event.position,
                    result.description,
                )
                return None
            if isinstance(result, BaseException):
                raise result
            end = StreamMark(result.seq, event.position)
            self.position.advance(event.position)
            self._too_large.pop(event.position, None)
        return end

    async def _answers(
        self, futures: list[asyncio.Future[PublishResult]]
    ) -> list[PublishResult | BaseException]:
        """Every publish's answer, waiting at most `publish_timeout` for each next one.

        The wait is for progress, not for the whole batch: a large batch on a busy server
        goes on as long as answers keep coming, while a batch whose answers stopped (a
        stream leader that went away with them) is given up quickly and the stream's end
        re-read.
        """
        pending: set[asyncio.Future[PublishResult]] = set(futures)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=self.publish_timeout)
            if not done:
                raise TimeoutError(
                    f"{len(pending)} of {len(futures)} publishes unanswered for"
                    f" {self.publish_timeout} s (the stream's leader changing?)"
                )
        return [future.exception() or future.result() for future in futures]

    def _unpublishable(self, position: int, size: int, reason: str) -> None:
        """Remember that the event at `position` goes as a marker; count and say so."""
        self._too_large[position] = size
        self.unpublishable += 1
        log.error(
            "relay %s: the event at position %s (%s bytes) cannot be published (%s);"
            " publishing a marker in its place: consumers read it from the log",
            self.stream,
            position,
            size,
            reason,
        )

    async def _send(
        self,
        mark: StreamMark,
        events: Sequence[StoredEvent],
        futures: list[asyncio.Future[PublishResult]],
    ) -> None:
        """Send the batch without waiting for acks, collecting each ack's future."""
        previous = mark.position
        largest = self._nc.max_payload - HEADER_ROOM
        for index, event in enumerate(events):
            body = wire.encode(event)
            if len(body) > largest and event.position not in self._too_large:
                self._unpublishable(
                    event.position,
                    len(body),
                    f"the server's maximum payload is {self._nc.max_payload} bytes",
                )
            if event.position in self._too_large:
                body, headers = wire.marker(event.position, previous, len(body))
            else:
                headers = wire.chain_headers(event.position, previous)
            if index == 0:
                headers[wire.EXPECTED_LAST_SEQUENCE] = str(mark.seq)
            else:
                headers[wire.EXPECTED_LAST_MSG_ID] = str(previous)
            subject = subject_for(self.subject_prefix, event.aggregate_type)
            futures.append(await self._publisher.publish(subject, body, headers))
            raise_if_cancelled()
            previous = event.position
