"""An `EventLogReader` fed by a durable JetStream consumer, with the log as its safety net.

`ProjectionRunner` runs on it unchanged: pass the reader as `log_reader` and its
`arrivals` watch as `head`. A background task pulls messages into a small buffer
(bounded by the consumer's `max_ack_pending`); `read_after` serves from that buffer
without touching the network.

Why the stream can be trusted, and when it cannot: every relayed message names its
predecessor (`Tandem-Previous`), so a run of messages is complete exactly when each
names the one before it and the first names the projection's checkpoint. When that
chain does not start at the checkpoint — the read store was wiped while the consumer's
ack floor is high, a message was lost to a worker crash before its redelivery, a
garbage or truncated message was terminated, a marker stands for an event too large
to publish — the reader serves `read_after` from `fallback` (the event log itself)
until the checkpoint reaches the chain again. A
message is acked only when a later `read_after` shows its position was applied, so
the consumer never moves past an event the read model has not durably taken.

Usage::

    reader = NatsEventReader(nc, stream="CATALOG", subject_prefix="catalog.events",
                             durable="category_stats", fallback=log_reader)
    await reader.start()
    runner = ProjectionRunner(projection, store, reader, reader.arrivals)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from dataclasses import dataclass, field

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tandem.consistency import VersionWatch
from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent
from tandem.stopping import finish
from tandem.transport import wire
from tandem.transport.nats.stream import (
    API_TIMEOUT,
    ensure_stream,
    last_relayed,
    raise_if_cancelled,
    through_elections,
)

log = logging.getLogger("tandem.transport.nats")

# A position past any the log holds: read from the log up to its end.
_END = 2**63 - 1


@dataclass(order=True)
class _Received:
    """One decoded message waiting in the buffer, ordered by stream sequence."""

    seq: int
    position: int = field(compare=False)
    previous: int = field(compare=False)
    event: StoredEvent = field(compare=False)
    msg: Msg = field(compare=False)


class NatsEventReader:
    """Reads one projection's events from a durable JetStream pull consumer."""

    def __init__(
        self,
        nc: Client,
        *,
        stream: str,
        subject_prefix: str,
        durable: str,
        fallback: EventLogReader,
        filter_subject: str | None = None,
        fetch_batch: int = 500,
        max_ack_pending: int = 2000,
        ack_wait: float = 30.0,
        fetch_timeout: float = 5.0,
        max_wait: float = 0.005,
        duplicate_window: float = 120.0,
        log_check: float = 5.0,
        replicas: int = 1,
        start_timeout: float = 30.0,
    ) -> None:
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.durable = durable
        self.fallback = fallback
        self.filter_subject = filter_subject
        self.fetch_batch = fetch_batch
        self.max_ack_pending = max_ack_pending
        self.ack_wait = ack_wait
        self.fetch_timeout = fetch_timeout
        # read_after waits at most this long for a message the consumer has yet to
        # deliver, so the runner neither blocks nor spins.
        self.max_wait = max_wait
        self.duplicate_window = duplicate_window
        # Servers that keep the stream if this reader creates it; the consumer is kept
        # by as many as the stream is, so it survives what the stream survives.
        self.replicas = replicas
        self.start_timeout = start_timeout
        # While idle, how often the log's head is compared with the checkpoint, so a
        # consumer that stopped delivering cannot leave the projection behind for good.
        # A consumer that delivered within as long has not stopped, only lags (a
        # replicated one on a busy cluster): the reader waits for it.
        self.log_check = log_check
        self._log_checked = time.monotonic()
        self._last_delivery = self._log_checked
        self._log_ahead = False
        self.arrivals = VersionWatch(0)
        """The highest position seen in the stream; the runner's `head`."""
        self.garbage = 0
        self.unpublishable = 0
        """Markers met in place of events too large to publish (read from the log)."""
        self.fallback_events = 0
        self.error: str | None = None
        self._nc = nc
        self._buffer: list[_Received] = []
        self._seqs: set[int] = set()
        # The highest position the consumer has moved past (acked, terminated, or
        # delivered before this reader started): below it, the stream will not
        # deliver again, so only the log can fill a gap.
        self._passed = 0
        self._checkpoint = 0
        self._delivered = asyncio.Event()
        self._falling_back = False
        self._sub: Subscription | None = None
        self._inbox = ""
        self._request_over = asyncio.Event()
        self._request_status: str | None = None
        self._in_request = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the stream and the durable consumer if missing, and start pulling.

        On a cluster, a stream or consumer that has just been created, or whose leader
        just went away, answers nothing until it has a leader: the requests are made
        again for up to `start_timeout` seconds.
        """
        await through_elections(self._open, self.start_timeout, f"reader {self.durable}")
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_message)
        self._task = asyncio.create_task(self._pull(), name=f"nats-reader-{self.durable}")

    async def _open(self) -> None:
        """The stream and the consumer (created if missing), and how far they are."""
        jsm = self._nc.jsm(timeout=API_TIMEOUT)
        replicas = await ensure_stream(
            jsm,
            self.stream,
            self.subject_prefix,
            duplicate_window=self.duplicate_window,
            replicas=self.replicas,
        )
        try:
            info = await jsm.consumer_info(self.stream, self.durable)
        except NotFoundError:
            info = await jsm.add_consumer(self.stream, self._consumer_config(replicas))
        delivered = info.delivered.stream_seq if info.delivered else 0
        if delivered:
            self._passed = (await last_relayed(jsm, self.stream, delivered)).position
        self.arrivals.advance((await last_relayed(jsm, self.stream)).position)

    async def close(self) -> None:
        """Stop pulling; unacked messages are redelivered to the next reader."""
        if self._task is not None:
            task, self._task = self._task, None
            await finish([task])
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def head(self) -> int:
        """The highest position seen: the stream's end at start, then every arrival."""
        return self.arrivals.value

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Events after `position`, from the stream when its chain starts there.

        Calling it says everything up to `position` is durably applied, so messages at
        or below it are acked (and skipped) first.
        """
        self._checkpoint = position
        await self._release(position)
        for _ in range(2):
            if self._buffer:
                first = self._buffer[0]
                if first.previous == position:
                    return self._chain(position, limit)
                # The chain resumes at first.previous; when the checkpoint is past
                # it (a store that got ahead of the stream), read up to first itself.
                resume = first.previous if first.previous > position else first.position
                return await self._from_fallback(position, limit, resume)
            if self._passed > position:
                return await self._from_fallback(position, limit, self._passed)
            if self.arrivals.value <= position:
                break
            # Announced (the stream's end at start) but not delivered yet.
            self._delivered.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_wait):
                    await self._delivered.wait()
        if not self._buffer and (self._log_ahead or await self._stream_quiet_behind_log(position)):
            # Nothing buffered, nothing announced, yet the log has more: the consumer
            # stopped delivering (seen after the database dropped every connection).
            events = await self._from_fallback(position, limit, _END)
            self._log_ahead = len(events) == limit
            return events
        self._falling_back = False
        return []

    async def _stream_quiet_behind_log(self, position: int) -> bool:
        """Every `log_check` seconds while idle, and once nothing was delivered for as
        long: is the log's head past `position`?"""
        now = time.monotonic()
        if now - max(self._log_checked, self._last_delivery) < self.log_check:
            return False
        self._log_checked = now
        try:
            return await self.fallback.head() > position
        except Exception as exc:  # the log unreachable: the stream is all there is
            log.warning("reader %s: cannot read the log's head: %s", self.durable, exc)
            return False

    def _chain(self, position: int, limit: int) -> list[StoredEvent]:
        """The unbroken run of buffered events that starts right after `position`."""
        if self._falling_back:
            log.info("reader %s: back on the stream at position %s", self.durable, position)
            self._falling_back = False
        events: list[StoredEvent] = []
        previous = position
        for received in self._buffer:
            if received.position <= previous:
                continue  # a stream duplicate; acked once the checkpoint passes it
            if received.previous != previous or len(events) == limit:
                break
            events.append(received.event)
            previous = received.position
        return events

    async def _from_fallback(self, position: int, limit: int, resume: int) -> list[StoredEvent]:
        """Events from the log, stopping where the stream's chain takes over again."""
        if not self._falling_back:
            log.info(
                "reader %s: stream chain does not start at checkpoint %s; reading the log up to %s",
                self.durable,
                position,
                resume,
            )
            self._falling_back = True
        events = await self.fallback.read_after(position, limit)
        within = [e for e in events if e.position <= resume]
        # When the log has nothing up to `resume` (the stream named a position the log
        # lacks), the log still wins: serve what it has.
        served = within or events
        if not served:
            # The log is behind the stream (a lagging replica): do not let the runner spin.
            await asyncio.sleep(self.max_wait)
        self.fallback_events += len(served)
        return served

    async def _release(self, position: int) -> None:
        """Ack and drop buffered messages at or below the applied `position`."""
        if not self._buffer or self._buffer[0].position > position:
            return
        done = [r for r in self._buffer if r.position <= position]
        self._buffer = [r for r in self._buffer if r.position > position]
        for received in done:
            self._seqs.discard(received.seq)
            self._passed = max(self._passed, received.position)
            await self._ack(received.msg)

    async def _pull(self) -> None:
        """Keep one pull request open; each ends after `fetch_batch` messages or expiry.

        The reader pulls through its own inbox rather than nats-py's `fetch`, which
        against this server returned one message per call or timed out on a full stream.
        """
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        request = orjson.dumps(
            {"batch": self.fetch_batch, "expires": int(self.fetch_timeout * 1e9)}
        )
        failures = 0
        while True:
            raise_if_cancelled()
            self._request_over.clear()
            self._request_status = None
            self._in_request = 0
            try:
                await self._nc.publish(subject, request, reply=self._inbox)
                # Lost requests (a reconnect) end here instead of waiting forever.
                async with asyncio.timeout(self.fetch_timeout + 1.0):
                    await self._request_over.wait()
            except TimeoutError:
                pass
            except Exception as exc:
                raise_if_cancelled()
                self._request_status = f"{type(exc).__name__}: {exc}"
            if self._in_request or self._request_status in (None, "408"):
                failures = 0
                self.error = None
                continue
            self.error = f"pull request failed: {self._request_status}"
            delay = min(2.0, 0.05 * 2**failures)
            failures += 1
            log.warning("reader %s: %s; retrying in %.2fs", self.durable, self.error, delay)
            await asyncio.sleep(delay)

    async def _on_message(self, msg: Msg) -> None:
        """Every message on the inbox: a delivered event, or a pull request's status."""
        if msg.reply.startswith("$JS.ACK."):
            await self._receive(msg)
            self._delivered.set()
            self._in_request += 1
            if self._in_request >= self.fetch_batch:
                self._request_over.set()
            return
        headers = msg.headers or {}
        self._request_status = f"{headers.get('Status')} {headers.get('Description', '')}".strip()
        if self._request_status.startswith("408"):
            self._request_status = "408"
        self._request_over.set()

    async def _receive(self, msg: Msg) -> None:
        self._last_delivery = time.monotonic()
        if msg.headers and wire.UNPUBLISHABLE in msg.headers:
            await self._marker(msg)
            return
        try:
            seq = msg.metadata.sequence.stream
            received = _decode(seq, msg)
        except (wire.WireError, ValueError, AttributeError) as exc:
            await self._reject(msg, exc)
            return
        if received.position <= self._checkpoint:
            self._passed = max(self._passed, received.position)
            await self._ack(msg)  # a redelivery of something already applied
            return
        if seq in self._seqs:
            # Redelivered after ack_wait: keep the newest delivery for the ack.
            index = bisect.bisect_left(self._buffer, received)
            self._buffer[index] = received
            return
        self._seqs.add(seq)
        if not self._buffer or self._buffer[-1].seq < seq:
            self._buffer.append(received)
        else:
            bisect.insort(self._buffer, received)
        self.arrivals.advance(received.position)

    async def _reject(self, msg: Msg, exc: Exception) -> None:
        """Terminate a message that is not a relayed event; the chain check covers it."""
        self.garbage += 1
        log.warning(
            "reader %s: terminating a message on %s that is not a relayed event"
            " (position header %s): %s",
            self.durable,
            msg.subject,
            wire.header_position(msg.headers, wire.POSITION),
            exc,
        )
        await self._to_the_log(msg)

    async def _to_the_log(self, msg: Msg) -> None:
        """Terminate `msg`; if its chain headers name a position, the runner reads the
        log up to it now rather than when the next message arrives."""
        position = wire.header_position(msg.headers, wire.POSITION)
        previous = wire.header_position(msg.headers, wire.PREVIOUS)
        if position and previous is not None and previous < position:
            self._passed = max(self._passed, position)
            self.arrivals.advance(position)
        with contextlib.suppress(Exception):
            await msg.term()

    async def _marker(self, msg: Msg) -> None:
        """A marker in place of an event the relay could not publish: the chain goes on
        through it, and the event itself is read from the log."""
        self.unpublishable += 1
        log.warning(
            "reader %s: the event at position %s (%s bytes) was too large to publish;"
            " reading it from the log",
            self.durable,
            wire.header_position(msg.headers, wire.POSITION),
            (msg.headers or {}).get(wire.UNPUBLISHABLE),
        )
        await self._to_the_log(msg)

    async def _ack(self, msg: Msg) -> None:
        try:
            await msg.ack()
        except Exception as exc:  # the ack is lost: redelivery is skipped as applied
            log.debug("reader %s: ack failed: %s", self.durable, exc)

    def _consumer_config(self, replicas: int) -> ConsumerConfig:
        return ConsumerConfig(
            num_replicas=replicas,
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_ack_pending=self.max_ack_pending,
            filter_subject=self.filter_subject,
        )


def _decode(seq: int, msg: Msg) -> _Received:
    """The buffered form of a relayed message; `WireError` if it is not one."""
    position = wire.header_position(msg.headers, wire.POSITION)
    previous = wire.header_position(msg.headers, wire.PREVIOUS)
    if not position or previous is None or previous >= position:
        raise wire.WireError("missing or inconsistent chain headers")
    event = wire.decode(msg.data)
    if event.position != position:
        raise wire.WireError(f"body position {event.position} != header {position}")
    return _Received(seq, position, previous, event, msg)
