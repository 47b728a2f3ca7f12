"""The read models a process serves, as the consistency middleware, `/status` and the
streams see them: each one's running projection (a runner, a sync projection, a copy
served as stored, or a remote one followed through its checkpoints) and its store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from tandem.consistency import VersionWatch
from tandem.projections.runner import ProjectionRunner
from tandem.projections.status import Tracked
from tandem.stores.sqlite_sync import OUTDATED, SyncProjection


@dataclass
class RunningReadModel:
    """One read model in this process: what tracks it, which store it lives in, and
    how to close its files (replaced when a rebuild switches copies)."""

    tracked: Tracked
    store_kind: str
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
        self.closers.clear()


class LiveTracked(Mapping[str, Tracked]):
    """The running read models by name, as the consistency middleware sees them (a
    rebuild's switch replaces `tracked`; the middleware always sees the current one)."""

    def __init__(self, read_models: Mapping[str, RunningReadModel]) -> None:
        self._read_models = read_models

    def __getitem__(self, name: str) -> Tracked:
        return self._read_models[name].tracked

    def __iter__(self) -> Iterator[str]:
        return iter(self._read_models)

    def __len__(self) -> int:
        return len(self._read_models)


async def all_reach(
    read_models: Mapping[str, RunningReadModel], target: int, timeout: float
) -> bool:
    """Wait until every read model has applied `target` (False on timeout)."""
    for running in read_models.values():
        if not await running.tracked.checkpoint.wait_for(target, timeout):
            return False
    return True


class OutdatedCopy:
    """An asynchronous read model served as its stored copy, which another version of
    its projection built: this code does not run it, so its checkpoint stays where it
    was (queries asking for later versions wait, then answer read-model-behind) until a
    rebuild to this version switches."""

    mode = "async"
    state = OUTDATED
    error: str | None = None
    events_applied = 0

    def __init__(
        self, runner: ProjectionRunner, position: int, version: int, head: VersionWatch
    ) -> None:
        self.runner = runner
        self.projection = runner.projection
        self.store = runner.store
        self.version = version
        # The runner's own watch, which queries and the product feed already hold.
        self.checkpoint = runner.checkpoint
        self.checkpoint.advance(position)
        self._head = head
        self._since = time.monotonic()

    @property
    def name(self) -> str:
        return self.runner.name

    def lag_seconds(self) -> float:
        if self._head.value <= self.checkpoint.value:
            return 0.0
        return time.monotonic() - self._since


def serving_version(tracked: Tracked) -> int:
    """The projection version that built the copy `tracked` serves."""
    if isinstance(tracked, SyncProjection | OutdatedCopy):
        return tracked.version
    assert isinstance(tracked, ProjectionRunner)
    return tracked.projection.version
