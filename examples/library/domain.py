"""The library's domain: what can happen to a book, and the rules. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tandem import Aggregate, Command, Event, Query


# --8<-- [start:events]
@dataclass(frozen=True, kw_only=True)
class BookAdded(Event):
    aggregate_type: ClassVar[str] = "book"
    title: str


@dataclass(frozen=True, kw_only=True)
class BookLent(Event):
    aggregate_type: ClassVar[str] = "book"
    member: str


EVENTS = (BookAdded, BookLent)
# --8<-- [end:events]


# --8<-- [start:commands]
@dataclass(frozen=True, kw_only=True)
class AddBook(Command):
    book_id: str
    title: str

    def validate(self) -> None:
        if not self.title.strip():
            raise LibraryError("a book needs a title")


@dataclass(frozen=True, kw_only=True)
class LendBook(Command):
    book_id: str
    member: str


@dataclass(frozen=True, kw_only=True)
class BookOnShelf(Query):
    book_id: str


# --8<-- [end:commands]


class LibraryError(Exception):
    """A command the library's rules refuse."""


# --8<-- [start:aggregate]
class Book(Aggregate):
    """A book: added once, lent to one member at a time."""

    def __init__(
        self, id: str, version: int = 0, title: str = "", borrower: str | None = None
    ) -> None:
        super().__init__(id, version)
        self.title = title
        self.borrower = borrower

    @classmethod
    def add(cls, book_id: str, title: str) -> Book:
        book = cls(book_id, title=title)
        book._record(BookAdded(aggregate_id=book_id, title=title))
        return book

    def lend(self, member: str) -> None:
        if self.borrower is not None:
            raise LibraryError(f"{self.title!r} is already lent to {self.borrower}")
        self.borrower = member
        self._record(BookLent(aggregate_id=self.id, member=member))


# --8<-- [end:aggregate]
