"""A reader whose target can be replaced while queries use it (blue/green switch)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

    @property
    def current(self) -> Reader:
        """The reader of the copy served now: the same object until a switch."""
        return self.target

    def switch(self, target: Reader) -> Reader:
        """Serve from `target` from now on; returns the previous target."""
        previous, self.target = self.target, target
        return previous


class _Registrations:
    """Records what a reads object registers, in place of a query bus."""

    def __init__(self) -> None:
        self.entries: list[tuple[type, Callable[[Any], Awaitable[Any]], str]] = []

    def register(self, query_type: type, handler: Any, read_model: str) -> None:
        self.entries.append((query_type, handler, read_model))


class SwitchableReads:
    """Query handlers bound to whichever reads object serves now.

    `register` registers, for every handler the target registers, a handler that calls
    the method of the same name on the current target; `switch` replaces the target in
    one assignment, so a query runs against the old copy or the new one, never a mix.
    """

    def __init__(self, target: Any) -> None:
        self.target = target

    def register(self, bus: Any) -> None:
        recorded = _Registrations()
        self.target.register(recorded)
        for query_type, handler, read_model in recorded.entries:
            bus.register(query_type, self._delegate(handler.__name__), read_model=read_model)

    def _delegate(self, method: str) -> Callable[[Any], Awaitable[Any]]:
        async def handle(query: Any) -> Any:
            return await getattr(self.target, method)(query)

        handle.__name__ = method
        return handle

    def switch(self, target: Any) -> Any:
        """Serve from `target` from now on; returns the previous target."""
        previous, self.target = self.target, target
        return previous
