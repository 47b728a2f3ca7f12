"""The wire format of a relayed event: a `StoredEvent` as JSON, plus its chain headers.

The body is the whole stored event, so a worker fed by the transport folds exactly what
it would read from the log. Decoding is strict: anything that is not a complete event
raises `WireError`, because a half-understood message must never reach a projection.

>>> from tandem.messages import StoredEvent
>>> event = StoredEvent(7, "Renamed", 1, "product", "p-1", 2, 1.5, "c", "c", {"name": "x"})
>>> decode(encode(event)) == event
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tandem.messages import StoredEvent
from tandem.upcasting import UPCASTERS

MSG_ID = "Nats-Msg-Id"
POSITION = "Tandem-Position"
PREVIOUS = "Tandem-Previous"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
UNPUBLISHABLE = "Tandem-Unpublishable"
"""On a marker the relay publishes in place of an event the server would not take: the
event's size in bytes. The event itself is in the log only."""

MAX_POSITION = 2**53
"""Positions stay below 2^53 so every JSON client reads them exactly."""

_INTS = ("position", "schema_version", "aggregate_version")
_STRINGS = ("type", "aggregate_type", "aggregate_id", "correlation_id", "causation_id")
_FIELDS = frozenset((*_INTS, *_STRINGS, "recorded_at", "data"))


class WireError(ValueError):
    """A message that is not a complete relayed event (garbage, truncated, wrong type)."""


def encode(event: StoredEvent) -> bytes:
    """The event as a JSON object with one key per `StoredEvent` field."""
    return orjson.dumps(
        {
            "position": event.position,
            "type": event.type,
            "schema_version": event.schema_version,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "aggregate_version": event.aggregate_version,
            "recorded_at": event.recorded_at,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "data": event.data,
        }
    )


def decode(body: bytes) -> StoredEvent:
    """The event `encode` wrote, its payload upcast (`tandem.upcasting`): a message may
    have been published before its event's shape changed; `WireError` for anything
    else."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.keys() != _FIELDS:
        raise WireError("not a stored event object")
    for name in _INTS:
        if not _is_int(doc[name]):
            raise WireError(f"{name} is not an integer")
    for name in _STRINGS:
        if not isinstance(doc[name], str):
            raise WireError(f"{name} is not a string")
    recorded_at = doc["recorded_at"]
    if not isinstance(recorded_at, float | int) or isinstance(recorded_at, bool):
        raise WireError("recorded_at is not a number")
    if not isinstance(doc["data"], dict):
        raise WireError("data is not an object")
    if not 0 < doc["position"] < MAX_POSITION:
        raise WireError(f"position {doc['position']} is out of range")
    event = StoredEvent(
        position=doc["position"],
        type=doc["type"],
        schema_version=doc["schema_version"],
        aggregate_type=doc["aggregate_type"],
        aggregate_id=doc["aggregate_id"],
        aggregate_version=doc["aggregate_version"],
        recorded_at=float(recorded_at),
        correlation_id=doc["correlation_id"],
        causation_id=doc["causation_id"],
        data=doc["data"],
    )
    return UPCASTERS.upcast(event) if UPCASTERS else event


def chain_headers(position: int, previous: int) -> dict[str, str]:
    """Headers that let a consumer check no event is missing between two messages.

    `Nats-Msg-Id` is the position too, so the server drops a retried publish.
    """
    return {MSG_ID: str(position), POSITION: str(position), PREVIOUS: str(previous)}


def marker(position: int, previous: int, size: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the marker that stands for the event at `position`,
    `size` bytes on the wire, which the server refuses: a link of the chain like any
    relayed event, whose consumers read the event itself from the log."""
    headers = chain_headers(position, previous)
    headers[UNPUBLISHABLE] = str(size)
    return orjson.dumps({"position": position, "unpublishable": size}), headers


def header_position(headers: Mapping[str, str] | None, name: str) -> int | None:
    """The position in header `name`, or None when it is missing or not a position."""
    if not headers:
        return None
    raw = headers.get(name)
    if raw is None or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value < MAX_POSITION else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
