"""What every event log backend provides.

Appends happen inside the writer's transaction (see `tandem.uow`), so the log only has
to promise readers one thing: reading after position N, repeatedly, never skips an event
whose transaction commits later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tandem.messages import StoredEvent


@dataclass(frozen=True)
class NewEvent:
    """An event ready to append: encoded payload plus its place in its aggregate."""

    type: str
    schema_version: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    data: dict[str, Any]


class EventLogReader(Protocol):
    """Ordered, gap-safe reads of the event log."""

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Events with position > `position`, in position order, at most `limit`."""
        ...

    async def head(self) -> int:
        """The highest position readers can see now (0 when empty)."""
        ...
