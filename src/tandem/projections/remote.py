"""Projections run by worker processes, as an API process sees them.

An API process answers queries from stores that workers fill. It needs each
projection's checkpoint to honour `min_version`: the checkpoint advances on the
workers' `NOTIFY tandem_checkpoints` (a wake-up, not a poll) and is re-read from the
store itself after every reconnect and once a second, so a lost notification delays a
waiting query by at most that second and never lets it answer early. State, errors and
lag come from the workers' reports in `tandem_projection_status`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tandem.consistency import VersionWatch

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

# The stored checkpoint of each part (one part unless the projection is partitioned).
ReadCheckpoint = Callable[[], Awaitable[dict[str, int]]]

# A worker report older than this means nobody runs the projection.
STALE_AFTER = 10.0


class RemoteProjection:
    """A `Tracked` projection whose runner (or partitions' runners) live elsewhere.

    A partitioned projection's checkpoint is the minimum over its parts: a version is
    applied only once every partition has applied it.
    """

    mode = "async"

    def __init__(
        self,
        name: str,
        read_checkpoint: ReadCheckpoint,
        parts: list[str] | None = None,
        *,
        confirm_reads: bool = False,
    ) -> None:
        self._name = name
        self._read_checkpoint = read_checkpoint
        self.parts: dict[str, int] = dict.fromkeys(parts or [name], 0)
        self.checkpoint = VersionWatch(0)
        # Whether each read re-reads the stored checkpoints after answering (a store
        # that can be wiped: Redis), and whether the store was last seen behind.
        self.confirm_reads = confirm_reads
        self.went_back = False
        self.state = "starting"
        self.error: str | None = None
        self.events_applied = 0
        self.worker: str | None = None
        self._lag = 0.0

    @property
    def name(self) -> str:
        return self._name

    def lag_seconds(self) -> float:
        return self._lag

    async def refresh(self) -> None:
        """Re-read the checkpoints from the store (the truth)."""
        seen = dict(self.parts)
        stored = await self._read_checkpoint()
        for part, position in stored.items():
            self.advance_part(part, position)
        self._note_went_back(seen, stored)

    def _note_went_back(self, seen: dict[str, int], stored: dict[str, int]) -> None:
        # A store behind what it served (wiped, or restarted without its last writes)
        # answers nothing until its projection has folded back to where it was. `seen`
        # is taken before the store is read: a notice arriving during the read may
        # raise the parts past what the read returned without anything going back.
        self.went_back = any(position < seen.get(part, 0) for part, position in stored.items())

    async def confirm(self, version: int) -> bool:
        """After a read answered at `version`: does the store still hold at least that?
        Only for stores that can lose what was applied (`confirm_reads`)."""
        if not self.confirm_reads:
            return True
        seen = dict(self.parts)
        stored = await self._read_checkpoint()
        self._note_went_back(seen, stored)
        return not self.went_back and min(stored.values(), default=version) >= version

    def retarget(self, read_checkpoint: ReadCheckpoint, parts: dict[str, int]) -> None:
        """Follow another stored copy (a rebuild's) from now on. Its parts must have
        applied at least this projection's checkpoint, which never goes back."""
        if parts and min(parts.values()) < self.checkpoint.value:
            raise ValueError(f"{self._name}: the new copy is behind the one it replaces")
        self._read_checkpoint = read_checkpoint
        self.parts = dict(parts)
        if parts:
            self.checkpoint.advance(min(parts.values()))

    def advance_part(self, part: str, position: int) -> None:
        if part in self.parts and position > self.parts[part]:
            self.parts[part] = position
            self.checkpoint.advance(min(self.parts.values()))

    def report(
        self,
        *,
        worker: str,
        state: str,
        error: str | None,
        events_applied: int,
        lag_seconds: float,
        age: float,
    ) -> None:
        self.worker = worker
        self.state = state if age < STALE_AFTER else "unassigned"
        self.error = error
        self.events_applied = events_applied
        self._lag = lag_seconds


class RemoteProjections:
    """Every remote projection of an API process, kept current."""

    def __init__(self, pool: Pool, projections: list[RemoteProjection]) -> None:
        self.pool = pool
        self.by_name = {p.name: p for p in projections}
        self.last_refresh = 0.0
        # The latest worker report of every part, running or not (rebuilds' copies too).
        self.reports: dict[str, Any] = {}

    @property
    def by_part(self) -> dict[str, RemoteProjection]:
        """Projections by the name of each part (these change when a rebuild switches)."""
        return {part: p for p in self.by_name.values() for part in p.parts}

    def notified(self, payload: str) -> None:
        """A `NOTIFY tandem_checkpoints` payload: `part:position` pairs separated by
        spaces."""
        for pair in payload.split():
            part, _, position = pair.rpartition(":")
            for projection in self.by_name.values():
                if part in projection.parts:
                    with contextlib.suppress(ValueError):
                        projection.advance_part(part, int(position))

    async def refresh(self) -> None:
        for projection in self.by_name.values():
            await projection.refresh()
        rows = await self.pool.fetch(
            "SELECT name, worker, state, error, events_applied, lag_seconds,"
            " extract(epoch FROM now() - updated_at) AS age FROM tandem_projection_status"
        )
        self.reports = {str(row["name"]): row for row in rows}
        reports: dict[str, list[Any]] = {}
        by_part = self.by_part
        for row in rows:
            reported = by_part.get(row["name"])
            if reported is not None:
                reports.setdefault(reported.name, []).append(row)
        for name, parts in reports.items():
            states = [str(r["state"]) for r in parts]
            # The worst part speaks for the projection: failed, then missing, then the rest.
            state = next((s for s in ("failed", "catching_up") if s in states), states[0])
            if len(parts) < len(self.by_name[name].parts):
                state = "unassigned"
            self.by_name[name].report(
                worker=",".join(sorted({str(r["worker"]) for r in parts})),
                state=state,
                error=next((r["error"] for r in parts if r["error"]), None),
                events_applied=sum(int(r["events_applied"]) for r in parts),
                lag_seconds=max(float(r["lag_seconds"]) for r in parts),
                age=max(float(r["age"]) for r in parts),
            )
        self.last_refresh = time.monotonic()
