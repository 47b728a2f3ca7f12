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
from typing import TYPE_CHECKING

from tandem.consistency import VersionWatch

if TYPE_CHECKING:
    from tandem.pg import Pool

ReadCheckpoint = Callable[[], Awaitable[int]]

# A worker report older than this means nobody runs the projection.
STALE_AFTER = 10.0


class RemoteProjection:
    """A `Tracked` projection whose runner lives in another process."""

    mode = "async"

    def __init__(self, name: str, read_checkpoint: ReadCheckpoint) -> None:
        self._name = name
        self._read_checkpoint = read_checkpoint
        self.checkpoint = VersionWatch(0)
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
        """Re-read the checkpoint from the store (the truth)."""
        self.checkpoint.advance(await self._read_checkpoint())

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

    def notified(self, payload: str) -> None:
        """A `NOTIFY tandem_checkpoints` payload: `name:position`."""
        name, _, position = payload.rpartition(":")
        projection = self.by_name.get(name)
        if projection is not None:
            with contextlib.suppress(ValueError):
                projection.checkpoint.advance(int(position))

    async def refresh(self) -> None:
        for projection in self.by_name.values():
            await projection.refresh()
        rows = await self.pool.fetch(
            "SELECT name, worker, state, error, events_applied, lag_seconds,"
            " extract(epoch FROM now() - updated_at) AS age FROM tandem_projection_status"
        )
        for row in rows:
            reported = self.by_name.get(row["name"])
            if reported is not None:
                reported.report(
                    worker=row["worker"],
                    state=row["state"],
                    error=row["error"],
                    events_applied=int(row["events_applied"]),
                    lag_seconds=float(row["lag_seconds"]),
                    age=float(row["age"]),
                )
        self.last_refresh = time.monotonic()
