"""A reader whose target can be replaced while queries use it (blue/green switch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Reader(Protocol):
    def call(self, fn: Callable[[Any], Any]) -> Any: ...

    async def run(self, fn: Callable[[Any], Any]) -> Any: ...


class Switchable:
    """Delegates `call` and `run` to the current target; `switch` swaps it in one
    assignment, so every query runs against the old copy or the new one, never a mix."""

    def __init__(self, target: Reader) -> None:
        self.target = target

    def call(self, fn: Callable[[Any], T]) -> T:
        result: T = self.target.call(fn)
        return result

    async def run(self, fn: Callable[[Any], T]) -> T:
        result: T = await self.target.run(fn)
        return result

    def switch(self, target: Reader) -> Reader:
        """Serve from `target` from now on; returns the previous target."""
        previous, self.target = self.target, target
        return previous
