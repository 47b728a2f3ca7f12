"""What a running catalog offers the HTTP API, the CLI and the seed, on every profile.

`catalog.bootstrap.build` returns a `Runtime`; callers use nothing else, so they never
ask which profile they run on. Every operation has the same shape on each profile: the
lifecycle and the rebuild operations are coroutines even where one profile could answer
at once.

    runtime = build(settings)
    await runtime.start()
    try:
        result = await runtime.command_bus.dispatch(command)
        answer = await runtime.query_bus.ask(query, min_version=result.version)
    finally:
        await runtime.stop()
        await runtime.aclose()
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from tandem.projections.status import ProjectionFigures
from tandem.rebuilds.progress import RebuildProgress

if TYPE_CHECKING:
    from catalog.read_models.answers import Answers
    from catalog.read_models.product_detail.cache import DetailCache
    from catalog.read_models.product_detail.feed import ProductFeed
    from catalog.runtime.running import RunningReadModel
    from catalog.settings import Settings
    from catalog.tokens.store import TokenStore
    from catalog.write.repositories import CatalogUnitOfWork
    from tandem.bus import CommandBus, QueryBus
    from tandem.codec import EventRegistry
    from tandem.consistency import VersionWatch
    from tandem.deadletters import DeadLetters, ParkingStore
    from tandem.metrics import Metrics
    from tandem.projections.base import AsyncProjection, Projection
    from tandem.rebuilds.progress import Rebuild
    from tandem.sessions import Sessions


class StatusRow(ProjectionFigures):
    """One read model in `/status`, `tandem status` and the ops page (see
    `runtime.status`): its projection's figures, the projection version its copy serves
    and its rebuild running or last finished."""

    version: int | None
    rebuild: RebuildProgress | None


ParkingTarget = tuple["ParkingStore", "Projection[Any] | AsyncProjection[Any]"]
"""The store and the projection (or partition) whose dead letters are retried."""


class Role(StrEnum):
    """What a services-profile process plays (an embedded process plays both)."""

    API = "api"  # `tandem serve`: commands, queries, and the analytics it folds itself
    WORKER = "worker"  # `tandem worker`: projections into Redis and the read database


class RebuildRefused(Exception):
    """The read model cannot be rebuilt now: it is being rebuilt already."""


class RebuildUnsupported(Exception):
    """This deployment has no read model to rebuild (separation level 1)."""

    def __init__(self) -> None:
        super().__init__(
            "At separation level 1 queries read the write tables: no read model to rebuild."
        )


class Runtime(Protocol):
    """A catalog wired for one profile: buses, feeds and read models, with a lifecycle."""

    settings: Settings
    metrics: Metrics
    registry: EventRegistry
    head: VersionWatch
    # The log's identity, and the read-your-writes versions it can reach.
    sessions: Sessions
    command_bus: CommandBus[CatalogUnitOfWork]
    query_bus: QueryBus
    # Every query answered from the write database at the log head (level 1's reads):
    # `consistency=strong`. The same bus as `query_bus` at level 1.
    strong_queries: QueryBus
    product_feed: ProductFeed

    @property
    def dead_letters(self) -> DeadLetters:
        """Events projections parked (see `catalog.dead_letters`)."""
        ...

    # Product documents kept in this process's memory, where the profile has them.
    detail_cache: DetailCache | None
    # Answers of searches and stats kept in this process's memory, by query type.
    answers: Answers

    @property
    def read_models(self) -> Mapping[str, RunningReadModel]:
        """The read models this process serves, by name (none at level 1)."""
        ...

    async def start(self, *, projections: bool = True) -> None:
        """Open what the profile needs and start its background work; without
        `projections`, no projection runner or rebuild starts (seeding, `status`)."""
        ...

    async def inspect(self) -> None:
        """Read the stored checkpoints and versions for `status`, running and applying
        nothing (`tandem status` with no server to ask)."""
        ...

    async def stop(self) -> None:
        """End every background task (a second stop does nothing)."""
        ...

    async def aclose(self) -> None:
        """Close files and connections, after `stop`."""
        ...

    def status(self) -> list[StatusRow]:
        """A row per read model: mode, store, version, checkpoint, lag, state, rebuild."""
        ...

    async def readiness(self) -> list[str]:
        """What keeps this process from serving: unreachable stores, missing schema."""
        ...

    @property
    def tokens(self) -> TokenStore:
        """The bearer tokens kept in the write database (once started)."""
        ...

    async def wait_until_caught_up(self, timeout: float = 30.0) -> bool:
        """Wait until every read model has applied the head (False on timeout)."""
        ...

    @property
    def rebuilds(self) -> Mapping[str, Rebuild]:
        """The newest rebuild of each read model, running or finished."""
        ...

    async def rebuild(self, name: str) -> Rebuild:
        """Start a blue/green rebuild of `name`. `KeyError`: no such read model;
        `RebuildRefused`: one runs already; `RebuildUnsupported`: level 1."""
        ...

    async def cancel_rebuild(self, name: str) -> Rebuild:
        """Cancel the running rebuild of `name` (`KeyError` when none runs)."""
        ...

    async def refresh_rebuilds(self) -> None:
        """Bring `rebuilds` up to date now (another process may have changed them).
        `RebuildUnsupported` at level 1."""
        ...

    def parking_target(self, name: str) -> ParkingTarget:
        """Where the dead letters of projection `name` are retried (`KeyError`: none)."""
        ...
