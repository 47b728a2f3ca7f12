"""A runner's next batch, read while it applies the one before (`ProjectionRunner`)."""

from __future__ import annotations

import asyncio
import logging

from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent

log = logging.getLogger("tandem.projections")


class ReadAhead:
    """A read of the log after `after`, started while a batch before it is applied.

    A runner behind the log would otherwise leave the log's database idle while it
    applies a batch, and its store's while it reads the next: the read's query and the
    decoding of its rows now run while the batch's statements do. It is used only if
    the checkpoint ends the batch exactly at `after`, so it is the read the runner would
    have made next, only made earlier: a read after a position returns every event after
    it up to the reader's horizon, so an earlier read is a prefix of a later one, as in
    any batch that ends before the head.
    """

    def __init__(self, reader: EventLogReader, after: int, limit: int) -> None:
        self.after = after
        self._task = asyncio.ensure_future(reader.read_after(after, limit))

    async def events(self) -> list[StoredEvent] | None:
        """The events read, or None if the read failed (the runner reads again)."""
        try:
            return await self._task
        except Exception as exc:
            log.debug("reading ahead after %s: %s: %s", self.after, type(exc).__name__, exc)
            return None

    def drop(self) -> None:
        """Forget the read: the checkpoint went elsewhere, or the runner stopped."""
        self._task.cancel()
        self._task.add_done_callback(_retrieved)


def _retrieved(task: asyncio.Future[list[StoredEvent]]) -> None:
    if not task.cancelled():
        task.exception()
