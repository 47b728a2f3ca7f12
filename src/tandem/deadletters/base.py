"""The dead-letter record, the protocols its backends and stores keep, and what is
done with letters whatever the backend: `retry` an aggregate's parked events, count
them per projection.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tandem.messages import StoredEvent
from tandem.transport.wire import decode, encode

# The type a parked event takes on its way past the checkpoint: no projection handles it.
PARKED = "tandem.parked"


@dataclass(frozen=True)
class DeadLetter:
    """One parked event of one projection (or partition), with the error that parked it."""

    projection: str
    position: int
    aggregate_id: str
    event: StoredEvent
    error: str
    parked_at: float


class DeadLetters(Protocol):
    """Where a runner parks events and operators list, retry and drop them."""

    async def park(self, projection: str, event: StoredEvent, error: str) -> None: ...

    async def list(self, projection: str | None = None) -> list[DeadLetter]: ...

    async def parked_aggregates(self, projection: str) -> set[str]: ...

    async def remove(self, projection: str, positions: Sequence[int]) -> None: ...

    async def forget_after(self, projection: str, checkpoint: int) -> None: ...

    async def counts(self) -> dict[str, int]:
        """Letters per projection (or partition) name."""
        ...


class ParkingStore(Protocol):
    """A projection store that applies parked events again without moving the checkpoint."""

    async def apply_parked(self, projection: Any, events: list[StoredEvent]) -> None: ...


async def retry(
    letters: DeadLetters, store: ParkingStore, projection: Any, aggregate_id: str
) -> int:
    """Apply the aggregate's parked events again, in order, then forget them; returns how
    many. A failure leaves every letter in place (the store applies them in one
    transaction)."""
    parked = [
        letter
        for letter in await letters.list(projection.name)
        if letter.aggregate_id == aggregate_id
    ]
    if parked:
        await store.apply_parked(projection, [letter.event for letter in parked])
        await letters.remove(projection.name, [letter.position for letter in parked])
    return len(parked)


def new_row(
    projection: str, event: StoredEvent, error: str
) -> tuple[str, int, str, bytes, str, float]:
    """The columns of a letter parked now, in the order both backends create them."""
    return (projection, event.position, event.aggregate_id, encode(event), error, time.time())


def letter_from_row(row: Sequence[Any]) -> DeadLetter:
    """A letter from a `tandem_dead_letters` row (projection, position, aggregate id,
    encoded event, error, parked at: the order of `new_row`)."""
    return DeadLetter(
        str(row[0]), int(row[1]), str(row[2]), decode(bytes(row[3])), str(row[4]), float(row[5])
    )


def per_projection(counts: dict[str, int], name: str) -> int:
    """Letters of a projection, its partitions' (`name.pN`) included."""
    return sum(n for key, n in counts.items() if key == name or key.startswith(f"{name}.p"))
