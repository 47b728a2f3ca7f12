"""Server-sent events on the wire: frames, heartbeats and the response headers."""

from __future__ import annotations

HEARTBEAT = 15.0
"""Seconds of silence after which a stream sends a comment, so proxies keep it open."""
KEEP_ALIVE = b": keep-alive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(kind: str, data: bytes, id: int | None = None) -> bytes:
    """One `event:` frame with its `data:` (and `id:` when given)."""
    head = f"event: {kind}\n" + (f"id: {id}\n" if id is not None else "")
    return head.encode() + b"data: " + data + b"\n\n"
