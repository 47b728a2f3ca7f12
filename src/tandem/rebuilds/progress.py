"""Progress of a blue/green rebuild: a new copy folded from position 0 beside the live one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from typing_extensions import TypedDict


class RebuildProgress(TypedDict):
    """A rebuild as `/status`, its admin route and its stream report it."""

    projection: str
    target: str
    version: int
    percent: float
    state: Literal["running", "switched", "cancelled", "failed"]
    checkpoint: int
    head: int
    events_applied: int
    events_per_s: float
    error: str | None


class RebuildState(StrEnum):
    RUNNING = "running"
    SWITCHED = "switched"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass
class Rebuild:
    """What `/status` and `tandem rebuild` show while a rebuild runs."""

    projection: str
    target: str
    version: int = 1
    state: RebuildState = RebuildState.RUNNING
    checkpoint: int = 0
    head: int = 0
    applied: int = 0
    # Events at or below `checkpoint` and `head`, where positions are not event counts
    # (transaction ids on PostgreSQL); 0 when positions count events themselves.
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None

    def events_per_second(self) -> float:
        elapsed = (self.finished or time.monotonic()) - self.started
        return self.applied / elapsed if elapsed > 0 else 0.0

    def percent(self) -> float:
        """How far the new copy is from the position it must reach (100 once switched)."""
        if self.state is RebuildState.SWITCHED:
            return 100.0
        if self.total:
            return round(min(100.0, 100.0 * self.done / self.total), 1)
        return round(min(100.0, 100.0 * self.checkpoint / self.head), 1) if self.head else 0.0

    def describe(self) -> RebuildProgress:
        return {
            "projection": self.projection,
            "target": self.target,
            "version": self.version,
            "percent": self.percent(),
            "state": self.state.value,
            "checkpoint": self.checkpoint,
            "head": self.head,
            "events_applied": self.applied,
            "events_per_s": round(self.events_per_second(), 1),
            "error": self.error,
        }
