"""The NATS client every process of the transport opens, as its operator reads it.

The client connects again for ever (a relay or worker started before NATS, or while it
restarts, waits for it), and says so in one line per attempt naming the server (host
and port; never a password) instead of the client's own traceback per attempt.
"""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

from tandem.unavailable import location, reason, unavailable

log = logging.getLogger("tandem.transport.nats")


async def connect(url: str) -> Client:
    """A client of the NATS server at `url` that never gives up reconnecting."""
    where = f"NATS at {location(url, 4222)}"

    async def on_error(exc: Exception) -> None:
        if unavailable(exc):
            log.warning("cannot reach %s: %s", where, reason(exc))
        else:
            log.error("%s: %s: %s", where, type(exc).__name__, reason(exc))

    return await nats.connect(url, max_reconnect_attempts=-1, error_cb=on_error)
