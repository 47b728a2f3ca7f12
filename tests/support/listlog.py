"""An event log held in a list, for tests of what runs on a log rather than of a log."""

from __future__ import annotations

import time

from tandem.messages import StoredEvent


class ListLog:
    """Events appended with `append`, read in position order (positions 1, 2, 3 …)."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    def append(self, type: str = "Counted") -> int:
        position = len(self.events) + 1
        self.events.append(
            StoredEvent(position, type, 1, "Tally", "t", position, time.time(), "c", "c", {})
        )
        return position

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return [e for e in self.events if e.position > position][:limit]

    async def head(self) -> int:
        return len(self.events)
