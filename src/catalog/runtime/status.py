"""`/status` rows and the figures behind them, the same on every profile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from catalog.runtime.contract import StatusRow
from catalog.runtime.running import RunningReadModel
from tandem.deadletters import DeadLetters, per_projection
from tandem.projections.status import describe
from tandem.rebuilds.progress import Rebuild

log = logging.getLogger("catalog")


def describe_all(
    read_models: Mapping[str, RunningReadModel],
    head: int,
    letters: dict[str, int],
    versions: Mapping[str, int | None],
    rebuilds: Mapping[str, Rebuild],
) -> list[StatusRow]:
    """A row per read model: its runner's figures, the projection version its copy
    serves (from `versions`) and the rebuild running or last finished, or None."""
    rows: list[StatusRow] = []
    for name, running in read_models.items():
        figures = describe(running.tracked, running.store_kind, head, per_projection(letters, name))
        rebuild = rebuilds.get(name)
        rows.append(
            {
                **figures,
                "version": versions.get(name),
                "rebuild": rebuild.describe() if rebuild is not None else None,
            }
        )
    return rows


async def count_dead_letters(letters: DeadLetters, into: dict[str, int]) -> None:
    """Keep `into` at the number of dead letters per projection, re-read every second."""
    while True:
        try:
            counts = await letters.counts()
            into.clear()
            into.update(counts)
        except Exception as exc:  # a status figure; the store may be back next second
            log.warning("counting dead letters failed: %s", exc)
        await asyncio.sleep(1.0)
