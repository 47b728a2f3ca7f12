"""Dealing with dead letters after a fix: retry an aggregate's parked events, or skip one.

`tandem dead-letters` and `/admin/dead-letters/…` both act through these functions, on
either profile's catalog (anything with `dead_letters` and `parking_target(name)`)::

    applied = await retry_aggregate(catalog, "category_stats", category_id)
    await skip_position(catalog, "category_stats", 41237)
"""

from __future__ import annotations

from typing import Any

from tandem.deadletters import retry


class NotParkable(LookupError):
    """No projection of that name parks events here (unknown, or a sync one)."""


class NoSuchLetter(LookupError):
    """Nothing is parked for that projection at that position, or of that aggregate."""


class StillFailing(Exception):
    """Applying the parked events failed again; every letter was kept."""


async def retry_aggregate(catalog: Any, projection: str, aggregate_id: str) -> int:
    """Apply the aggregate's parked events again, in position order, then forget them;
    returns how many were applied."""
    try:
        store, target = catalog.parking_target(projection)
    except KeyError as exc:
        raise NotParkable(str(exc.args[0])) from None
    if not any(
        letter.aggregate_id == aggregate_id
        for letter in await catalog.dead_letters.list(target.name)
    ):
        raise NoSuchLetter(f"{projection} has no parked events of {aggregate_id}")
    try:
        return await retry(catalog.dead_letters, store, target, aggregate_id)
    except Exception as exc:  # the projection's own error, whatever it is, is the answer
        raise StillFailing(f"{type(exc).__name__}: {exc}") from exc


async def skip_position(catalog: Any, projection: str, position: int) -> None:
    """Drop one parked event without applying it; its aggregate's later letters stay."""
    letters = await catalog.dead_letters.list(projection)
    if not any(letter.position == position for letter in letters):
        raise NoSuchLetter(f"{projection} has no parked event at {position}")
    await catalog.dead_letters.remove(projection, [position])
