"""What `/status` and `tandem status` report for each projection."""

from __future__ import annotations

from typing import Any, Protocol

from typing_extensions import TypedDict

from tandem.consistency import VersionWatch


class ProjectionFigures(TypedDict):
    """One projection's place in the log and how it runs."""

    name: str
    mode: str
    store: str
    checkpoint: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    error: str | None
    events_applied: int
    dead_letters: int


class Tracked(Protocol):
    """A running projection, asynchronous or sync."""

    mode: str

    @property
    def name(self) -> str: ...

    @property
    def checkpoint(self) -> VersionWatch: ...

    @property
    def state(self) -> Any: ...

    @property
    def error(self) -> str | None: ...

    @property
    def events_applied(self) -> int: ...

    def lag_seconds(self) -> float: ...


def describe(tracked: Tracked, store: str, head: int, dead_letters: int = 0) -> ProjectionFigures:
    checkpoint = tracked.checkpoint.value
    return {
        "name": tracked.name,
        "mode": tracked.mode,
        "store": store,
        "checkpoint": checkpoint,
        "head": head,
        "lag_events": max(0, head - checkpoint),
        "lag_seconds": round(tracked.lag_seconds(), 3),
        "state": str(tracked.state),
        "error": tracked.error,
        "events_applied": tracked.events_applied,
        "dead_letters": dead_letters,
    }
