"""Add a book, lend it, and read the shelf at the version the loan returned."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from examples.library.app import Library
from examples.library.domain import AddBook, BookOnShelf, LendBook


# --8<-- [start:demo]
async def demo(library: Library) -> None:
    await library.commands.dispatch(AddBook(book_id="dune", title="Dune"))
    lent = await library.commands.dispatch(LendBook(book_id="dune", member="ada"))
    # Without min_version the shelf may not have applied the loan yet; with it, the
    # query waits until it has, and says which version it read.
    answer = await library.queries.ask(BookOnShelf(book_id="dune"), min_version=lent.version)
    print(f"{answer.value} at version {answer.read_version} (loan: {lent.version})")


# --8<-- [end:demo]


@contextlib.asynccontextmanager
async def opened(url: str | None) -> AsyncIterator[Library]:
    if url is not None:
        from examples.library.postgres import open_library as on_postgres

        async with on_postgres(url) as library:
            yield library
        return
    from examples.library.sqlite import open_library as on_sqlite

    with tempfile.TemporaryDirectory() as directory:
        async with on_sqlite(Path(directory)) as library:
            yield library


async def main(url: str | None) -> None:
    async with opened(url) as library:
        await demo(library)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
