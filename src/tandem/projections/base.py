"""The projection base: a fold from events into one read model on one store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, Protocol, TypeVar

from tandem.messages import StoredEvent

Tx = TypeVar("Tx")


class Projection(ABC, Generic[Tx]):
    """Folds events into a read model through a store transaction `Tx`.

    `apply` runs inside the store's transaction together with the checkpoint update,
    so it must only touch the read model through `tx`. Events whose type is not in
    `event_types` are skipped without a call, but the checkpoint still moves past them.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    event_types: ClassVar[frozenset[str]]

    @abstractmethod
    def setup(self, tx: Tx) -> None:
        """Create the read model's tables or keys if they are missing."""

    @abstractmethod
    def apply(self, tx: Tx, event: StoredEvent) -> None:
        """Apply one event to the read model."""

    def apply_batch(self, tx: Tx, events: list[StoredEvent]) -> None:
        """Apply a batch of events (of `event_types`, in order) in one transaction:
        `apply` on each. A projection that records something once per batch, beside
        its read model, overrides it (and still applies each event as `apply` does)."""
        for event in events:
            self.apply(tx, event)

    def settle(self, tx: Tx) -> list[str]:
        """Tidy the read model after many events were applied (a catch-up): what the
        store cannot know to do itself, such as merging an index's segments. Returns
        what was tidied; nothing by default. Runs in a transaction of its own, off the
        event loop, while the runner waits (`ProjectionRunner.settle_after`)."""
        return []


class AsyncProjection(ABC, Generic[Tx]):
    """A projection for stores reached over the network (PostgreSQL, Redis).

    The same contract as `Projection`, but `setup` and `apply` may await the store's
    transaction (a read inside the transaction is a round trip).
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    event_types: ClassVar[frozenset[str]]
    # Aggregate types whose events touch only that aggregate's documents: the
    # projection can then be split across workers (`tandem.projections.partitions`).
    partitioned_by: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    async def setup(self, tx: Tx) -> None:
        """Create the read model's tables or keys if they are missing."""

    @abstractmethod
    async def apply(self, tx: Tx, event: StoredEvent) -> None:
        """Apply one event to the read model."""


P_contra = TypeVar("P_contra", contravariant=True)


class ProjectionStore(Protocol[P_contra]):
    """A read store that applies events and the checkpoint in one transaction.

    Parameterised by the projections it takes: `Projection[sqlite3.Connection]` for a
    SQLite store, an `AsyncProjection` for a store reached over the network.
    """

    kind: str

    async def setup(self, projection: P_contra) -> int:
        """Create the projection's tables and return its stored checkpoint."""
        ...

    async def apply(self, projection: P_contra, events: list[StoredEvent]) -> int:
        """Apply the events after the stored checkpoint and return the new checkpoint.

        Events at or below the stored checkpoint are already applied and skipped, so a
        redelivered batch has no second effect.
        """
        ...

    async def apply_parked(self, projection: P_contra, events: list[StoredEvent]) -> None:
        """Apply events the runner parked (at or below the checkpoint) in one
        transaction, leaving the checkpoint where it is: a dead letter retried."""
        ...
