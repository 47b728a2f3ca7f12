"""The NATS client every process of the transport opens, as its operator reads it.

`url` names one server or, comma-separated, the servers of a cluster
(`nats://a:4222,nats://b:4222,nats://c:4222`). The client starts with all of them and
moves to another when the one it is on goes away; it also learns the cluster's other
servers from the one it reaches, so naming one of them is enough to connect, and naming
all of them is what lets a process start while one is down.

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


def server_urls(url: str) -> list[str]:
    """The servers a comma-separated `url` names, in order; blanks are dropped."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str) -> Client:
    """A client of the NATS server (or cluster) at `url` that never gives up reconnecting."""
    named = f"NATS at {location(url, 4222)}"

    async def on_error(exc: Exception) -> None:
        if unavailable(exc):
            log.warning("cannot reach %s: %s", named, reason(exc))
        else:
            log.error("%s: %s: %s", named, type(exc).__name__, reason(exc))

    return await nats.connect(server_urls(url), max_reconnect_attempts=-1, error_cb=on_error)
