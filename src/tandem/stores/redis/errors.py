"""Why a Redis batch was refused: in both cases nothing of it was written."""

from __future__ import annotations

from tandem.errors import TandemError


class CheckpointMoved(TandemError):
    """Another writer moved the projection's checkpoint during the batch; nothing was written."""

    def __init__(self, projection: str, expected: int, actual: int) -> None:
        super().__init__(
            f"checkpoint of {projection} moved from {expected} to {actual} during the batch"
        )
        self.projection = projection
        self.expected = expected
        self.actual = actual


class KeyTypeConflict(TandemError):
    """A key is used as two Redis types (in one batch, or against what Redis holds)."""
