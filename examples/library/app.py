"""What both backends share: the buses, their middleware, and the runner's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from examples.library.domain import EVENTS, BookOnShelf
from examples.library.handlers import LibraryUnitOfWork, register
from tandem import CommandBus, EventRegistry, ProjectionRunner, QueryBus, middleware

ShelfEntry = dict[str, str | None]


def event_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(*EVENTS)
    return registry


# --8<-- [start:library]
@dataclass
class Library:
    commands: CommandBus[LibraryUnitOfWork]
    queries: QueryBus
    shelf: ProjectionRunner


def library(
    unit_of_work: Callable[[], LibraryUnitOfWork],
    shelf: ProjectionRunner,
    on_shelf: Callable[[BookOnShelf], Awaitable[ShelfEntry | None]],
) -> Library:
    commands: CommandBus[LibraryUnitOfWork] = CommandBus(unit_of_work, [middleware.validation])
    register(commands)
    # Queries wait (up to their timeout) until the shelf has applied `min_version`.
    queries = QueryBus([middleware.consistency({"shelf": shelf})])
    queries.register(BookOnShelf, on_shelf, read_model="shelf")
    return Library(commands, queries, shelf)


@contextlib.asynccontextmanager
async def running(*tasks: Awaitable[Any]) -> AsyncIterator[None]:
    """Run the projection runner (and any other background work) until the block ends."""
    started = [asyncio.ensure_future(task) for task in tasks]
    try:
        yield
    finally:
        for task in started:
            task.cancel()
        await asyncio.gather(*started, return_exceptions=True)


# --8<-- [end:library]
