"""How `tandem serve` configures each ASGI server's connection limits from the settings.

- request head (`TANDEM_MAX_HEAD_BYTES`): granian's HTTP/1 read buffer (431, empty
  body); uvicorn: `LimitedHttpTools` (431, a problem document);
- header read (`TANDEM_HEADER_TIMEOUT`): granian's `header_read_timeout`; uvicorn:
  `LimitedHttpTools`, from the connection's start or its next request's first byte;
- idle and keep-alive (`TANDEM_KEEPALIVE_TIMEOUT`): granian times header reads and
  idle connections with one timer, given the smaller of the two (at most 60 s); uvicorn's
  `timeout_keep_alive` (whole seconds, rounded up).

granian serves HTTP/1 only (`http1` mode): in `auto` mode it waits, without a timeout,
for a fresh connection's first bytes to tell HTTP/1 from HTTP/2, so a socket that
sends nothing stayed open for good. Its `backpressure` (requests one worker takes at
once) is set above the app's own caps (`ConcurrencyCap` plus the event streams), so
that requests over them are answered 503 by the app rather than queued by the server.
"""

from __future__ import annotations

import math
from typing import Any

from catalog.settings import Settings

APP_FACTORY = "catalog.api.factory:app_from_env"
"""What each worker process of a server with several calls to build its app (named, not
imported: the process that supervises them never loads the app's modules, ~20 MB it
would hold). A server with one worker builds the app in its own process."""
LOG_LEVEL = "TANDEM_LOG_LEVEL"
"""The environment variable that gives the app's processes their log level."""
BACKPRESSURE_ROOM = 64
"""Requests granian takes beyond the app's caps, so that the app can answer them 503."""
GRANIAN_MAX_TIMEOUT_MS = 60_000
"""The longest header-read timeout granian accepts (its own command line's bound)."""


def granian_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of granian's `Server` for the settings' limits."""
    from granian.constants import HTTPModes
    from granian.http import HTTP1Settings

    timeout = min(settings.header_timeout, settings.keepalive_timeout)
    return {
        "http": HTTPModes.http1,
        "http1_settings": HTTP1Settings(
            header_read_timeout=min(GRANIAN_MAX_TIMEOUT_MS, max(1, round(timeout * 1000))),
            keep_alive=True,
            max_buffer_size=settings.max_head_bytes,
        ),
        "backpressure": settings.max_concurrency + settings.max_streams + BACKPRESSURE_ROOM,
    }


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of `uvicorn.run` for the settings' limits."""
    from catalog.api.uvicorn_protocol import LimitedHttpTools

    return {
        "http": LimitedHttpTools,
        "timeout_keep_alive": max(1, math.ceil(settings.keepalive_timeout)),
    }
