"""The JetStream stream the relay writes and workers read: creating it, finding its end.

Neither the relay nor a worker keeps its own notion of "how far the stream got": both
ask the stream. The last message the relay published carries its log position in the
`Tandem-Position` header, so the stream itself is the relay's checkpoint. Anything
else published onto the subjects (garbage) is stepped over.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import nats.errors
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError
from nats.js.manager import JetStreamManager

from tandem.transport import wire

log = logging.getLogger("tandem.transport.nats")

_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_SCAN = 10_000
"""How many non-relay messages `last_relayed` steps over before giving up loudly."""


class StreamCorrupted(RuntimeError):
    """The stream's tail holds too many messages that the relay did not publish."""


@dataclass(frozen=True)
class StreamMark:
    """A point in the stream: its sequence and the log position relayed up to there."""

    seq: int
    position: int


def subject_for(prefix: str, aggregate_type: str) -> str:
    """`{prefix}.{aggregate_type}`, with characters NATS reserves replaced by `_`."""
    return f"{prefix}.{_TOKEN_UNSAFE.sub('_', aggregate_type) or '_'}"


async def ensure_stream(
    jsm: JetStreamManager,
    stream: str,
    subject_prefix: str,
    *,
    duplicate_window: float,
    replicas: int = 1,
) -> int:
    """Create the stream unless it exists; returns its replica count.

    `replicas` is how many servers of a cluster keep the stream (1 on a single server;
    3 on a 3-node cluster, so it survives losing one): a publish is acknowledged once a
    majority of them stored it. An existing stream's config is left alone — changing
    the replica count of a stream holding data is the operator's step
    (`nats stream edit --replicas`) — and a mismatch is logged.

    Adding an identical stream is idempotent on the server, so two relays starting
    together both succeed.
    """
    try:
        info = await jsm.stream_info(stream)
    except NotFoundError:
        info = await jsm.add_stream(
            StreamConfig(
                name=stream,
                subjects=[f"{subject_prefix}.>"],
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                storage=StorageType.FILE,
                duplicate_window=duplicate_window,
                num_replicas=replicas,
            )
        )
    kept = info.config.num_replicas or 1
    if kept != replicas:
        log.warning(
            "stream %s has %s replicas, not the %s asked for: left as it is", stream, kept, replicas
        )
    return kept


async def last_relayed(
    jsm: JetStreamManager, stream: str, at_or_below: int | None = None
) -> StreamMark:
    """The stream's last sequence and the position of the last relayed message up to it.

    `seq` is the stream's real last sequence (or `at_or_below`), garbage included, since
    a conditional publish must name it; `position` comes from the newest message with a
    valid pair of chain headers at or below it (0 when there is none).
    """
    state = (await jsm.stream_info(stream)).state
    top = state.last_seq if at_or_below is None else min(at_or_below, state.last_seq)
    seq = top
    while seq >= max(state.first_seq, 1):
        if top - seq >= MAX_SCAN:
            raise StreamCorrupted(f"stream {stream}: no relayed message in {MAX_SCAN} messages")
        position = await _position_at(jsm, stream, seq)
        if position is not None:
            return StreamMark(top, position)
        seq -= 1
    return StreamMark(top, 0)


async def _position_at(jsm: JetStreamManager, stream: str, seq: int) -> int | None:
    """The relayed position stored at `seq`, or None (deleted, or not the relay's)."""
    try:
        msg = await jsm.get_msg(stream, seq)
    except NotFoundError:
        return None
    position = wire.header_position(msg.headers, wire.POSITION)
    previous = wire.header_position(msg.headers, wire.PREVIOUS)
    if not position or previous is None or previous >= position:
        log.warning("stream %s: message %s is not a relayed event; stepping over it", stream, seq)
        return None
    return position


API_TIMEOUT = 2.0
"""Seconds a JetStream API request waits for its answer. During a leader election a
request goes unanswered; asking again soon beats the client's default wait of 5 s."""

ELECTION_ERRORS = (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)
"""What a JetStream API request raises while the stream, consumer or cluster it asks has
no leader to answer."""

T = TypeVar("T")


async def through_elections(call: Callable[[], Awaitable[T]], timeout: float, who: str) -> T:
    """`call()`, made again with backoff while it fails for want of a leader, for up to
    `timeout` seconds; any other error, or the last one, is raised."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return await call()
        except ELECTION_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.info("%s: no JetStream leader answers yet (%s); asking again", who, exc)
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that the client library turned into another error.

    nats-py swallows `CancelledError` in places (a forced flush inside `publish` when
    its buffer is full) or turns it into its own error (`publish_async` waiting for a
    pending slot); a loop that carries on, or retries on errors, would never stop.
    Loops call this at every turn and in their error handlers.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
