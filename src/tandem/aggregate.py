"""The aggregate root base: a consistency boundary that records its own events."""

from __future__ import annotations

from tandem.messages import Event, PendingEvent


class Aggregate:
    """State plus a version; every change records an event and bumps the version.

    Subclasses change state only through methods that call `_record`, so the events an
    aggregate emits always describe exactly the changes it made.
    """

    def __init__(self, id: str, version: int = 0) -> None:
        self.id = id
        self.version = version
        self._pending: list[PendingEvent] = []

    def _record(self, event: Event) -> None:
        self.version += 1
        self._pending.append(PendingEvent(event, self.version))

    @property
    def is_new(self) -> bool:
        return self.version == len(self._pending)

    def collect(self) -> list[PendingEvent]:
        """Take the events recorded since the last collect, oldest first."""
        pending, self._pending = self._pending, []
        return pending
