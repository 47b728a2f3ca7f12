"""The lending-library example, on SQLite and on PostgreSQL (a fresh database; under
CI=true an unreachable server fails the test instead of skipping it)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from examples.library.__main__ import demo
from examples.library.app import Library
from examples.library.domain import AddBook, BookOnShelf, LendBook, LibraryError

from tandem import ReadModelBehind
from tests.support.services import postgres_database

Opener = Callable[[], contextlib.AbstractAsyncContextManager[Library]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def open_library(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    if request.param == "sqlite":
        from examples.library.sqlite import open_library as on_sqlite

        yield lambda: on_sqlite(tmp_path)
        return
    from examples.library.postgres import open_library as on_postgres

    async for database in postgres_database("tandem_library"):
        yield functools.partial(on_postgres, database.url)


async def test_the_demo_reads_the_loan_at_the_version_it_returned(
    open_library: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_library() as library:
        await demo(library)
    assert "{'title': 'Dune', 'lent_to': 'ada'} at version" in capsys.readouterr().out


async def test_a_read_at_the_returned_version_reflects_the_command(open_library: Opener) -> None:
    async with open_library() as library:
        versions: list[int] = []
        for n in range(20):
            added = await library.commands.dispatch(AddBook(book_id=f"b{n}", title=f"Book {n}"))
            lent = await library.commands.dispatch(LendBook(book_id=f"b{n}", member=f"m{n}"))
            assert lent.version > added.version
            versions.append(lent.version)
            answer = await library.queries.ask(
                BookOnShelf(book_id=f"b{n}"), min_version=lent.version
            )
            assert answer.value == {"title": f"Book {n}", "lent_to": f"m{n}"}
            assert answer.read_version >= lent.version
        assert versions == sorted(versions)


async def test_the_rules_refuse_and_write_nothing(open_library: Opener) -> None:
    async with open_library() as library:
        added = await library.commands.dispatch(AddBook(book_id="b", title="Emma"))
        lent = await library.commands.dispatch(LendBook(book_id="b", member="ann"))
        with pytest.raises(LibraryError, match="already lent to ann"):
            await library.commands.dispatch(LendBook(book_id="b", member="bob"))
        with pytest.raises(LibraryError, match="already exists"):
            await library.commands.dispatch(AddBook(book_id="b", title="Emma"))
        with pytest.raises(LibraryError, match="needs a title"):
            await library.commands.dispatch(AddBook(book_id="c", title=" "))
        with pytest.raises(LibraryError, match="no book"):
            await library.commands.dispatch(LendBook(book_id="c", member="bob"))
        answer = await library.queries.ask(BookOnShelf(book_id="b"), min_version=lent.version)
        assert answer.value == {"title": "Emma", "lent_to": "ann"}
        assert library.shelf.checkpoint.value == lent.version > added.version


async def test_a_read_ahead_of_the_log_waits_then_says_the_shelf_is_behind(
    open_library: Opener,
) -> None:
    async with open_library() as library:
        lent = await library.commands.dispatch(AddBook(book_id="b", title="Emma"))
        with pytest.raises(ReadModelBehind):
            await library.queries.ask(
                BookOnShelf(book_id="b"), min_version=lent.version + 1, timeout=0.2
            )


async def test_a_reopened_library_keeps_its_books_and_shelf(open_library: Opener) -> None:
    async with open_library() as library:
        await library.commands.dispatch(AddBook(book_id="b", title="Emma"))
    async with open_library() as library:
        with pytest.raises(LibraryError, match="already exists"):
            await library.commands.dispatch(AddBook(book_id="b", title="Emma"))
        lent = await library.commands.dispatch(LendBook(book_id="b", member="ann"))
        answer: Any = await library.queries.ask(BookOnShelf(book_id="b"), min_version=lent.version)
        assert answer.value["lent_to"] == "ann"
