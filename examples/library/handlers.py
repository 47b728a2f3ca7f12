"""One handler per command, written against what every backend's unit of work offers."""

from __future__ import annotations

from typing import Any, Protocol, Self

from examples.library.domain import AddBook, Book, LendBook, LibraryError
from tandem import Aggregate, CommandBus, CommandResult, UnitOfWorkLike


# --8<-- [start:handlers]
class LibraryUnitOfWork(UnitOfWorkLike, Protocol):
    """A unit of work that can load a book (each backend module implements it)."""

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def book(self, book_id: str) -> Book | None: ...
    def track(self, aggregate: Aggregate) -> None: ...
    async def commit(self, id: str, *, created: bool = False) -> CommandResult: ...


async def add_book(command: AddBook, uow: LibraryUnitOfWork) -> CommandResult:
    async with uow:
        if await uow.book(command.book_id) is not None:
            raise LibraryError(f"book {command.book_id} already exists")
        uow.track(Book.add(command.book_id, command.title))
        return await uow.commit(command.book_id, created=True)


async def lend_book(command: LendBook, uow: LibraryUnitOfWork) -> CommandResult:
    async with uow:
        book = await uow.book(command.book_id)
        if book is None:
            raise LibraryError(f"no book {command.book_id}")
        book.lend(command.member)
        uow.track(book)
        return await uow.commit(book.id)


def register(bus: CommandBus[Any]) -> None:
    bus.register(AddBook, add_book)
    bus.register(LendBook, lend_book)


# --8<-- [end:handlers]
