"""PostgreSQL LISTEN/NOTIFY for waking relays, workers and waiting queries.

One dedicated connection per process listens on every channel the process needs. A
notification is only a hint: whoever listens also re-reads the truth (the log head, a
checkpoint) after every reconnect and at a slow interval, so a notification lost with a
dropped connection delays work by at most that interval and never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("tandem.notify")

Handler = Callable[[str], None]
Resync = Callable[[], Awaitable[None]]


class Listener:
    """Keeps one LISTEN connection open and dispatches payloads by channel."""

    def __init__(self, url: str, *, resync_interval: float = 1.0) -> None:
        self.url = url
        self.resync_interval = resync_interval
        self._handlers: dict[str, list[Handler]] = {}
        self._resyncs: list[Resync] = []
        self._conn: asyncpg.Connection[Any] | None = None
        self.connected = asyncio.Event()

    def on(self, channel: str, handler: Handler) -> None:
        """Call `handler(payload)` for every notification on `channel`."""
        self._handlers.setdefault(channel, []).append(handler)

    def on_resync(self, resync: Resync) -> None:
        """Call `resync()` after every (re)connect and every `resync_interval`."""
        self._resyncs.append(resync)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        import asyncpg

        delay = 0.1
        while True:
            try:
                conn = await asyncpg.connect(self.url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listener: cannot connect (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            self._conn = conn
            lost = asyncio.Event()
            conn.add_termination_listener(functools.partial(_set_event, lost))
            try:
                for channel in self._handlers:
                    await conn.add_listener(channel, self._dispatch)
                self.connected.set()
                await self._resync_until(lost)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listener: connection lost (%s)", exc)
            finally:
                self.connected.clear()
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=1))

    async def _resync_until(self, lost: asyncio.Event) -> None:
        while not lost.is_set():
            for resync in self._resyncs:
                try:
                    await resync()
                except Exception as exc:  # a resync is retried at the next interval
                    log.warning("listener: resync failed: %s", exc)
            # asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for can swallow
            # the cancellation of a stop, and the listener then runs on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.resync_interval):
                    await lost.wait()

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for handler in self._handlers.get(channel, ()):
            try:
                handler(str(payload))
            except Exception:
                log.exception("listener: handler for %s failed", channel)


def _set_event(event: asyncio.Event, _conn: object) -> None:
    event.set()
